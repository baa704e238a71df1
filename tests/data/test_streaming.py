"""Streaming preparation equals whole-text preparation id for id, whatever the chunk and block sizes
(multi-byte UTF-8 across block borders, CRLF lines, blank lines, trailing spaces, one long line)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import seqgen.data.stream as stream
from seqgen.core.errors import DataError
from seqgen.core.schema import build
from seqgen.data.prepare import DataConfig, prepare
from seqgen.data.sources import load_splits
from seqgen.data.tokenizer import WordTokenizer, fit_tokenizer

ROOT = Path(__file__).resolve().parents[2]


def tricky_text(n_lines=1500, seed=0) -> str:
    """Lines that stress every border: multi-byte characters (2, 3 and 4 bytes), CRLF and LF, blank
    and whitespace-only lines, leading / trailing spaces and tabs, contractions, one long line."""
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "naïve", "Σοφία", "ΣΑΣ", "日本語", "🙂x", "it's", "don't", "42", "—", "...",
             "¿qué?", "x'd", "İstanbul", "tab\tbed"]
    lines = []
    for i in range(n_lines):
        r = rng.random()
        if r < 0.08:
            line = ""
        elif r < 0.12:
            line = " " * int(rng.integers(1, 4))
        else:
            line = " ".join(words[j] for j in rng.integers(0, len(words), int(rng.integers(1, 12))))
            if rng.random() < 0.2:
                line = " " + line
            if rng.random() < 0.2:
                line += "  "
        if i == n_lines // 2:
            line = " ".join(["long"] * 3000)
        lines.append(line + ["\n", "\r\n", "\n\n"][int(rng.integers(0, 3))])
    return "".join(lines)


def reference(c: DataConfig, root) -> dict:
    """The pre-streaming preparation: each split read whole, the vocabulary fitted on whole strings,
    each split encoded whole (what seqgen did before, and what old prepared folders hold)."""
    texts = load_splits(c, Path(root) / "raw")
    fit_on = [t for t in texts.values() if t] if c.tokenizer == "char" else [texts["train"]]
    tok = fit_tokenizer(c.tokenizer, fit_on, min_count=c.min_count, max_vocab=c.max_vocab, split=c.word_split,
                        lowercase=c.lowercase, vocab_size=c.bpe_vocab_size)
    dtype = "uint16" if tok.vocab_size < 2**16 else "uint32"
    ids = {s: np.array(tok.encode(t) if t else [], dtype=dtype) for s, t in texts.items()}
    return {"tok": tok.to_json(), "ids": ids, "chars": {s: len(t) for s, t in texts.items()}}


def assert_same(data, ref):
    assert data.tokenizer.to_json() == ref["tok"]
    for split, ids in ref["ids"].items():
        got = np.fromfile(data.dir / f"{split}.bin", dtype=data.meta["dtype"])
        assert got.dtype == ids.dtype and np.array_equal(got, ids), split
        assert data.meta["tokens"][split] == ids.size and data.meta["chars"][split] == ref["chars"][split]


def cfg(**kw):
    return build(DataConfig, {"name": "text_files", **kw}, "data")


@pytest.fixture
def tricky(tmp_path):
    paths = {}
    for split, seed, n in (("train", 0, 1500), ("valid", 1, 300), ("test", 2, 300)):
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_bytes(tricky_text(n, seed).encode("utf-8"))
    return paths


@pytest.mark.parametrize("tokenizer,extra", [("char", {}), ("word", {}), ("word", {"word_split": "whitespace"}),
                                             ("word", {"lowercase": True, "max_vocab": 12}),
                                             ("bpe", {"bpe_vocab_size": 300})])
@pytest.mark.parametrize("chunk,block", [(1, 5), (97, 4096), (4096, 7), (1 << 20, None)])
def test_streaming_equals_whole_text(tmp_path, tricky, monkeypatch, tokenizer, extra, chunk, block):
    if block:
        monkeypatch.setattr(stream, "BLOCK", block)   # decoding borders inside multi-byte characters
    c = cfg(train=str(tricky["train"]), valid=str(tricky["valid"]), test=str(tricky["test"]), tokenizer=tokenizer,
            **extra)
    assert_same(prepare(c, tmp_path / "d", verbose=False, chunk_size=chunk), reference(c, tmp_path / "d"))


@pytest.mark.parametrize("tokenizer", ["char", "bpe"])
def test_streaming_carves_valid_like_whole_text(tmp_path, tricky, monkeypatch, tokenizer):
    monkeypatch.setattr(stream, "BLOCK", 1000)
    c = cfg(train=str(tricky["train"]), tokenizer=tokenizer, valid_frac=0.37, bpe_vocab_size=280)
    assert_same(prepare(c, tmp_path / "d", verbose=False, chunk_size=300), reference(c, tmp_path / "d"))


def test_glob_of_files_is_one_stream(tmp_path, tricky):
    parts = tmp_path / "parts"
    parts.mkdir()
    text = tricky["train"].read_text(encoding="utf-8")
    (parts / "a.txt").write_text(text[:5000] + "no final newline", encoding="utf-8")
    (parts / "b.txt").write_text(text[5000:], encoding="utf-8")
    data = prepare(cfg(train=str(parts / "*.txt"), valid=str(tricky["valid"]), tokenizer="char"), tmp_path / "d",
                   verbose=False, chunk_size=512)
    ids = np.fromfile(data.dir / "train.bin", dtype=data.meta["dtype"])
    assert data.tokenizer.decode(ids) == text[:5000] + "no final newline\n" + text[5000:]
    with pytest.raises(DataError, match=r"data.train=.*nothing\*.txt: no file matches"):
        prepare(cfg(train=str(tmp_path / "nothing*.txt")), tmp_path / "d", verbose=False)


def test_tokenizer_sample_bounds_the_fit(tmp_path, tricky):
    full = prepare(cfg(train=str(tricky["train"]), tokenizer="word"), tmp_path / "d", verbose=False)
    head = prepare(cfg(train=str(tricky["train"]), tokenizer="word", tokenizer_sample="200"), tmp_path / "d",
                   verbose=False, chunk_size=100)
    assert full.dir != head.dir and head.tokenizer.vocab_size < full.tokenizer.vocab_size
    first = tricky["train"].read_text(encoding="utf-8")[:600]
    assert set(head.tokenizer.itos[1:]) <= set(WordTokenizer.tokenize(first))


def test_invalid_utf8_named_with_byte_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK", 16)
    p = tmp_path / "bad.txt"
    p.write_bytes(("ok line\n" * 10).encode() + b"caf\xe9\n")
    with pytest.raises(DataError, match=r"data.train=.*bad.txt: not valid UTF-8 \(byte 83"):
        prepare(cfg(train=str(p)), tmp_path / "d", verbose=False)
    assert not list((tmp_path / "d").glob("*/meta.json"))


KILLER = """
import os, signal, sys
from seqgen.core.schema import build
from seqgen.data.lines import LineWriter
from seqgen.data.prepare import DataConfig, prepare
calls = [0]
orig = LineWriter.add
def add(self, text, ids):
    calls[0] += 1
    if calls[0] == 5:                      # part-way through train: killed without a chance to clean up
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(self, text, ids)
LineWriter.add = add
prepare(build(DataConfig, {"name": "text_files", "train": sys.argv[1], "tokenizer": sys.argv[3]}, "data"),
        sys.argv[2], verbose=False, chunk_size=256)
"""


@pytest.mark.parametrize("tokenizer", ["char", "word"])   # word: killed in the one pass (train.ids.tmp)
def test_killed_preparation_is_redone_not_reused(tmp_path, tricky, tokenizer):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", KILLER, str(tricky["train"]), str(tmp_path / "d"), tokenizer],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr
    (folder,) = (tmp_path / "d").glob("text_files-*")
    partial = "train.bin" if tokenizer == "char" else "train.ids.tmp"
    assert (folder / partial).is_file() and not (folder / "meta.json").exists()
    c = cfg(train=str(tricky["train"]), tokenizer=tokenizer)
    data = prepare(c, tmp_path / "d", verbose=False)
    assert data.dir == folder and not (folder / "train.ids.tmp").exists()
    assert_same(data, reference(c, tmp_path / "d"))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["tokens"]["train"] == (folder / "train.bin").stat().st_size // 2


def test_a_sample_covering_train_is_the_one_pass(tmp_path, tricky):
    """tokenizer_sample at least train's size fits the same vocabulary as none (both in one pass) and
    one smaller (the two-pass path) still gives what fitting then encoding gives."""
    whole = prepare(cfg(train=str(tricky["train"]), tokenizer="word"), tmp_path / "d", verbose=False)
    covering = prepare(cfg(train=str(tricky["train"]), tokenizer="word", tokenizer_sample="1G"), tmp_path / "d",
                       verbose=False, chunk_size=300)
    assert covering.dir != whole.dir
    for name in ("train.bin", "train.lines", "valid.bin", "tokenizer.json"):
        assert (whole.dir / name).read_bytes() == (covering.dir / name).read_bytes(), name


# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork + exec
RSS_CHILD = """
import sys
from seqgen.core.schema import build
from seqgen.data.prepare import DataConfig, prepare
def peak_kb():
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1])
before = peak_kb()
data = prepare(build(DataConfig, {"name": "text_files", "train": sys.argv[1], "tokenizer": sys.argv[3]}, "data"),
               sys.argv[2], verbose=False)
print(before, peak_kb(), data.meta["tokens"]["train"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("tokenizer", ["char", "word"])
def test_preparing_50mb_stays_small(tmp_path, tokenizer):
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)] + ["naïve", "日本"])
    with open(tmp_path / "big.txt", "w", encoding="utf-8") as f:
        while f.tell() < 50 << 20:
            ids = rng.zipf(1.3, 200_000) % len(vocab)
            f.write("\n".join(" ".join(vocab[ids[i:i + 12]]) for i in range(0, len(ids), 12)) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", RSS_CHILD, str(tmp_path / "big.txt"), str(tmp_path / "d"), tokenizer],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    before, after, n = map(int, res.stdout.split())
    grown_mb = (after - before) / 1024
    assert n > 5_000_000 and after / 1024 < 200 and grown_mb < 120, \
        f"peak RSS {after / 1024:.0f} MB (grew {grown_mb:.0f} MB) while preparing 50 MB"


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
def test_hf_streaming_equals_whole_text(tmp_path, tokenizer):
    """data.streaming=true (datasets' streaming mode) on a local dataset: the same ids as reading the
    dataset whole, with valid carved from train when the dataset has no validation split."""
    folder = tmp_path / "my_ds"
    folder.mkdir()
    text = tricky_text(400).split("\n")
    for split, rows in (("train", text[:300]), ("test", text[300:])):
        with open(folder / f"{split}.jsonl", "w") as f:
            for i, row in enumerate(rows):
                f.write(json.dumps({"body": row, "id": i}) + "\n")
    for streaming in (False, True):
        c = build(DataConfig, {"name": "hf", "hf_name": str(folder), "column": "body", "tokenizer": tokenizer,
                               "streaming": streaming, "bpe_vocab_size": 280, "valid_frac": 0.2}, "data")
        data = prepare(c, tmp_path / f"prep{streaming}", verbose=False, chunk_size=200)
        assert_same(data, reference(c, tmp_path / "prep"))
        assert not list(data.dir.glob("hf-*.txt"))
    bad = build(DataConfig, {"name": "hf", "hf_name": str(folder), "column": "text", "streaming": True}, "data")
    with pytest.raises(DataError, match="data.column='text' is not a column"):
        prepare(bad, tmp_path / "prep2", verbose=False)


@pytest.mark.parametrize("extra", [{"tokenizer": "char"}, {"tokenizer": "word"},
                                   {"tokenizer": "word", "word_split": "whitespace"},
                                   {"tokenizer": "word", "word_split": "whitespace", "lowercase": True},
                                   {"tokenizer": "word", "max_vocab": 5}])     # "\n" itself left out: <unk>
@pytest.mark.parametrize("final", ["\n", "", "\n  \n"])
def test_line_index_gives_each_lines_ids(tmp_path, monkeypatch, extra, final):
    """data.lines(): the token ranges of the text's lines equal encoding each line of the text alone
    (what the n-gram did after re-reading the text), blank lines kept or dropped, at tiny chunks."""
    from seqgen.data.sources import text_lines

    monkeypatch.setattr(stream, "BLOCK", 64)
    text = tricky_text(200).replace(" ".join(["long"] * 3000), "long " * 50) + "tail" + final
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    data = prepare(cfg(train=str(tmp_path / "t.txt"), valid_frac=0.3, **extra), tmp_path / "d", verbose=False,
                   chunk_size=40)
    texts = load_splits(data_cfg := cfg(train=str(tmp_path / "t.txt"), valid_frac=0.3, **extra), tmp_path / "d")
    assert data_cfg.tokenizer == data.meta["tokenizer"]
    for split in ("train", "valid"):
        ids = np.fromfile(data.dir / f"{split}.bin", dtype=data.meta["dtype"])
        for blank in (False, True):
            lines = text_lines(texts[split]) if blank else [ln for ln in texts[split].split("\n") if ln.strip()]
            starts, ends = data.lines(split, blank)
            assert [data.tokenizer.encode(ln) for ln in lines] == [ids[a:b].tolist() for a, b in zip(starts, ends)]
        info = data.meta["lines"][split]
        assert info["nonblank_chars"] == sum(len(ln) + 1 for ln in texts[split].split("\n") if ln.strip())
        assert data.meta["chars"][split] + (not info["final_newline"]) == \
            sum(len(ln) + 1 for ln in text_lines(texts[split]))
