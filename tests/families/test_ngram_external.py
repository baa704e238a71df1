"""Counting in a memory budget (model.memory, model.temp_dir) gives the in-memory tables exactly,
with a budget so small that every order spills dozens of sorted runs."""

import gc
import warnings

import numpy as np
import pytest

import seqgen.families.ngram.external as ext
import seqgen.families.ngram.model as model_mod
from seqgen.core.errors import ConfigError, DataError
from seqgen.families.ngram.model import BOS, EOS, UNK, NGram
from tests.conftest import TINY_TEXT


def corpus(kind):
    if kind == "tiny":
        words = sorted({w for ln in TINY_TEXT.split("\n") for w in ln.split()})
        lines = [ln.split() for ln in TINY_TEXT.split("\n")]
    else:   # zipfian words, lines of 0..30 tokens (blank lines included)
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(300)]
        lines = [[words[j % 300] for j in rng.zipf(1.2, int(rng.integers(0, 30)))] for _ in range(600)]
    vocab = [UNK, BOS, EOS] + words
    stoi = {w: i for i, w in enumerate(vocab)}
    return [np.array([stoi[w] for w in ln], np.int64) for ln in lines], vocab


SLOW = pytest.mark.slow   # the zipf corpus at orders 3 and 4 (~45 s): order 5 covers its spills by default


@pytest.mark.parametrize("kind,order,smoothing", [
    *[("tiny", o, s) for o, s in [(1, "mkn"), (3, "mkn"), (5, "mkn"), (4, "wb")]],
    ("zipf", 1, "mkn"), ("zipf", 5, "mkn"),
    pytest.param("zipf", 3, "mkn", marks=SLOW), pytest.param("zipf", 4, "wb", marks=SLOW)])
def test_budgeted_count_equals_in_memory(tmp_path, monkeypatch, kind, order, smoothing):
    lines, vocab = corpus(kind)
    spills = []
    real = ext._spill
    monkeypatch.setattr(ext, "_spill", lambda run, stem: spills.append(stem) or real(run, stem))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # tiny corpora leave some discounts undefined: same warning both ways
        a = NGram(NGram.Config(order=order, smoothing=smoothing)).fit(lines, vocab)
        b = NGram(NGram.Config(order=order, smoothing=smoothing, memory="3k", temp_dir=str(tmp_path)))
        b.fit(lambda: iter(lines), vocab)
    for name in ("keys", "raw_counts", "adjusted_counts", "logp", "bow"):
        for x, y in zip(getattr(a, name), getattr(b, name), strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.discounts == b.discounts
    # scoring and next-token distributions over the maps (numpy path in blocks of 7 tokens, lookups and
    # gathers as sweeps over the tables in pieces of 5 entries) equal the in-memory model's compiled ones
    monkeypatch.setattr(model_mod, "_DISK_BLOCK", 7)
    monkeypatch.setattr(model_mod.disk, "SWEEP", 5)
    assert np.array_equal(model_mod.score_lines(a, lines), model_mod.score_lines(b, lines))
    contexts = [list(ln[:k]) for ln in lines[:20] for k in range(3)]
    assert np.array_equal(model_mod.next_log10probs(a, contexts), model_mod.next_log10probs(b, contexts))
    monkeypatch.setattr(model_mod, "INDEX_LIMIT", 0)    # in-memory tables counted as big (a mapped checkpoint)
    assert np.array_equal(model_mod.score_lines(a, lines), model_mod.score_lines(b, lines))
    assert np.array_equal(model_mod.next_log10probs(a, contexts), model_mod.next_log10probs(b, contexts))
    if order > 1:
        assert len(spills) >= 5 * (order - 1)            # the budget really forced many runs to disk
    # the sorted runs are gone; the tables live in one folder under temp_dir while the model does
    assert [p.name.startswith("seqgen-ngram-tables-") for p in tmp_path.iterdir()] == [True]
    if order > 1:
        assert all(isinstance(x, np.memmap) for x in (*b.keys[1:], *b.logp[1:], *b.bow))
    del b
    gc.collect()
    assert not list(tmp_path.iterdir())


def test_budget_errors(tmp_path):
    lines, vocab = corpus("tiny")
    with pytest.raises(ConfigError, match="model.memory='lots'"):
        NGram(NGram.Config(order=2, memory="lots")).fit(lines, vocab)
    short = [np.zeros(0, np.int64)] * 3 + [np.array([5])]
    for memory in (None, "1M"):                           # the same error either way
        with pytest.raises(DataError, match="no 4-gram fits"):
            NGram(NGram.Config(order=4, memory=memory)).fit(short, vocab)


@pytest.mark.parametrize("data", [["data.tokenizer=word"], ["data.tokenizer=word", "data.word_split=words"],
                                  ["data.tokenizer=char", "model.blank_lines=true"]])
def test_fit_from_prepared_lines_equals_rereading_the_text(tmp_path, corpus, monkeypatch, data):
    """model=ngram reads the prepared token file + line index; the same tables and metrics as the old
    path that re-read the text and encoded it line by line (forced here by hiding the line index),
    and with model.memory too."""
    from seqgen.app.train import train
    from seqgen.data.prepare import PreparedData
    from tests.conftest import compose, tiny_overrides

    runs = {}
    for name, memory, hide in (("prepared", "null", False), ("budget", "64k", False), ("text", "null", True)):
        if hide:
            monkeypatch.setattr(PreparedData, "lines", lambda self, split, blank=False: None)
        over = tiny_overrides(tmp_path / name, corpus, "model=ngram", "model.order=3", f"model.memory={memory}", *data)
        runs[name] = train(compose([o for o in over if not o.startswith(("model=gpt", "trainer="))]))
    ref = runs["text"]
    for name in ("prepared", "budget"):
        assert runs[name]["metrics"] | {"fit_seconds": 0} == ref["metrics"] | {"fit_seconds": 0}
        for x, y in zip(runs[name]["model"].logp, ref["model"].logp, strict=True):
            assert np.array_equal(x, y)


def test_budgeted_fit_saves_and_loads_through_maps(tmp_path, monkeypatch):
    """A budgeted fit's checkpoint, written file to file (forced here for small tables), loads (as a
    map too) into the same tables."""
    import seqgen.core.checkpoint as ckpt
    from seqgen.core import streamed_save
    from seqgen.families.ngram.io import from_state, to_state

    lines, vocab = corpus("zipf")
    m = NGram(NGram.Config(order=3, memory="3k", temp_dir=str(tmp_path))).fit(lambda: iter(lines), vocab)
    monkeypatch.setattr(streamed_save, "needs_streaming", lambda state: True)
    ckpt.save({"model_name": "ngram", "model_config": dict(m.config.__dict__), "model": to_state(m), "step": 0},
              tmp_path / "ng.pt")
    monkeypatch.setattr(ckpt, "MMAP_BYTES", 0)
    back = from_state(NGram.Config(**ckpt.load(tmp_path / "ng.pt")["model_config"]),
                      ckpt.load(tmp_path / "ng.pt")["model"])
    for name in ("keys", "logp", "bow"):
        for x, y in zip(getattr(m, name), getattr(back, name), strict=True):
            assert np.array_equal(x, y), name


def test_sweeps_equal_binary_search_and_fancy_indexing(tmp_path, monkeypatch):
    """disk.search / disk.take over a map equal lookup / indexing, whatever the piece size."""
    from seqgen.families.ngram import disk
    from seqgen.families.ngram.model import lookup

    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 10_000, 3_000)).astype(np.int64)
    keys.tofile(tmp_path / "k.bin")
    m = disk.table(tmp_path / "k.bin", np.int64)
    query = rng.integers(-5, 10_005, 5_000)
    idx = rng.integers(0, len(keys), 4_000)
    for piece in (1, 7, 1000, 1 << 22):
        monkeypatch.setattr(disk, "SWEEP", piece)
        assert np.array_equal(disk.search(m, query), lookup(keys, query))
        assert np.array_equal(disk.take(m, idx), keys[idx])
    assert len(disk.search(m, query[:0])) == 0 and len(disk.take(m, idx[:0])) == 0
