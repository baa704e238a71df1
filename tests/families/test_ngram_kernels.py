"""The compiled n-gram scorer and next-token distribution (numba) against the numpy reference, and
the order-by-order counting against a plain dictionary count: identical numbers, not close ones."""

from collections import Counter

import numpy as np
import pytest

from seqgen.families.ngram import kernels
from seqgen.families.ngram import model as ngram_model
from seqgen.families.ngram.io import read_arpa, write_arpa
from seqgen.families.ngram.model import BOS, EOS, UNK, NGram, next_log10probs, perplexity, score_lines


def corpus(n_lines, seed, V=600, oov=0.0):
    """Lines from a random sparse trigram process over a Zipf vocabulary, so that every order has
    seen and unseen continuations; a share `oov` of words is replaced by <unk> (id 0)."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, V + 1)
    zipf /= zipf.sum()
    follow = rng.integers(3, V + 3, (V + 3, 4))                      # each word's few favourite successors
    lines = []
    for _ in range(n_lines):
        w, line = int(rng.integers(3, V + 3)), []
        for _ in range(int(rng.integers(1, 15))):
            line.append(w)
            w = int(follow[w, rng.integers(0, 4)]) if rng.random() < 0.7 else int(rng.choice(V, p=zipf)) + 3
        line = np.array(line, np.int64)
        line[rng.random(len(line)) < oov] = 0
        lines.append(line)
    return lines


pytestmark = pytest.mark.filterwarnings("ignore:order .* leave the modified Kneser-Ney:UserWarning")  # sparse 5-grams
VOCAB = [UNK, BOS, EOS] + [f"w{i}" for i in range(600)]
TRAIN, TEST = corpus(1500, 0), corpus(300, 1, oov=0.05)


@pytest.fixture(scope="module", params=[(1, "mkn"), (2, "mkn"), (3, "mkn"), (5, "mkn"), (3, "wb"), (4, "wb")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def fitted(request):
    order, smoothing = request.param
    return NGram(NGram.Config(order=order, smoothing=smoothing)).fit(TRAIN, VOCAB)


def test_scores_identical_to_the_numpy_reference(fitted):
    ref = score_lines(fitted, TEST, backend="numpy")
    fast = score_lines(fitted, TEST, backend="numba")
    assert np.array_equal(ref, fast)
    a, b = perplexity(fitted, TEST, backend="numpy"), perplexity(fitted, TEST, backend="numba")
    assert a == b and b["ppl"] == pytest.approx(a["ppl"], rel=1e-9) and b["oov"] > 0


def test_next_token_distributions_identical(fitted):
    bos = VOCAB.index(BOS)
    contexts = [[], [bos], [bos, 5], [7, 8, 9, 10, 11, 12], [0, 0], [bos] + TEST[3].tolist()[:4], TRAIN[0][:3].tolist()]
    ref, fast = next_log10probs(fitted, contexts, backend="numpy"), next_log10probs(fitted, contexts, backend="numba")
    assert np.array_equal(ref, fast)
    assert np.allclose((10 ** fast).sum(1), 1.0, atol=1e-5)


def test_long_texts_are_scored_in_blocks(monkeypatch):
    model = NGram(NGram.Config(order=3)).fit(TRAIN, VOCAB)
    whole = score_lines(model, TEST, backend="numba")
    monkeypatch.setattr(kernels, "_BLOCK", 50)                    # many blocks of a few lines each
    assert np.array_equal(score_lines(model, TEST, backend="numba"), whole)
    assert np.array_equal(score_lines(model, TEST + [np.zeros(0, np.int64)] * 3, backend="numba")[:len(whole)], whole)


def test_counts_equal_a_dictionary_count():
    model = NGram(NGram.Config(order=4)).fit(TRAIN, VOCAB)
    for n in range(1, 5):
        expected = Counter()
        for line in TRAIN:
            padded = [VOCAB[1]] + [VOCAB[i] for i in line] + [VOCAB[2]]
            expected.update(tuple(padded[i:i + n]) for i in range(len(padded) - n + 1))
        assert model.count_table(n) == {k: float(v) for k, v in expected.items()}


def test_unpacked_counting_gives_the_same_tables(monkeypatch):
    packed = NGram(NGram.Config(order=4)).fit(TRAIN, VOCAB)
    monkeypatch.setattr(ngram_model, "_PACK_BITS", 0)             # force the argsort fallback
    sorted_ = NGram(NGram.Config(order=4)).fit(TRAIN, VOCAB)
    for a, b in zip(packed.keys + packed.logp + packed.bow, sorted_.keys + sorted_.logp + sorted_.bow):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_arpa_models_score_alike_and_the_index_follows_new_tables(tmp_path):
    model = NGram(NGram.Config(order=3)).fit(TRAIN, VOCAB)
    write_arpa(model, tmp_path / "m.arpa")
    again = read_arpa(tmp_path / "m.arpa", vocab_order=VOCAB)
    assert np.array_equal(score_lines(again, TEST, backend="numba"), score_lines(model, TEST, backend="numpy"))
    other = NGram(NGram.Config(order=3)).fit(TRAIN[::2], VOCAB)
    before = score_lines(model, TEST, backend="numba")
    model.keys, model.logp, model.bow = other.keys, other.logp, other.bow  # tables replaced: index rebuilt
    assert np.array_equal(score_lines(model, TEST, backend="numba"), score_lines(other, TEST, backend="numpy"))
    assert not np.array_equal(before, score_lines(model, TEST, backend="numba"))


def test_unknown_backend_is_a_config_error():
    from seqgen.core.errors import ConfigError

    model = NGram(NGram.Config(order=2)).fit(TRAIN[:50], VOCAB)
    with pytest.raises(ConfigError, match="backend='fast'"):
        score_lines(model, TEST, backend="fast")
