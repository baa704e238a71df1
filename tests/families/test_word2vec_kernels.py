"""word2vec's compiled trainer (numba) against the torch reference: the same updates on the same
examples, the same statistics when each draws its own, hierarchical softmax, checkpoints and files."""

import numpy as np
import pytest
import torch

from seqgen.core.errors import ConfigError
from seqgen.families.word2vec import kernels, torch_sgd
from seqgen.families.word2vec.io import write_word2vec
from seqgen.families.word2vec.model import Word2Vec, huffman_tree, job_bounds
from seqgen.families.word2vec.vectors import nearest
from tests.families.test_word2vec import one_torch_thread, planted_corpus  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # the reference's tensors are tiny


def _numpy_heads(heads, W, n):
    """(rows int32, labels int8, keep int8) of the head scoring against W, or empty (n, 0) arrays."""
    for h in heads:
        if h.W is W:
            label = h.label.expand(n, -1) if h.label.shape[0] == 1 else h.label
            return h.rows.numpy().astype(np.int32), label.numpy().astype(np.int8), h.keep.numpy().astype(np.int8)
    z = np.zeros((n, 0))
    return z.astype(np.int32), z.astype(np.int8), z.astype(np.int8)


@pytest.mark.parametrize("sg, hs, negative, cbow_mean", [(1, 0, 5, 1), (0, 0, 5, 1), (1, 1, 0, 1), (0, 1, 3, 0)],
                         ids=["sg-ns", "cbow-mean-ns", "sg-hs", "cbow-sum-hs+ns"])
def test_kernel_update_equals_the_torch_reference(sg, hs, negative, cbow_mean):
    """The reference draws a chunk's examples (pairs, negatives, Huffman paths) and runs them one per
    mini-batch; the kernel's per-example update (`_head`, shared with train_job) runs the same
    examples. Float32 sums in another order (bmm vs a vectorised loop) are the only difference:
    vectors agree to 1e-5 of their scale and the loss to 1e-7 relative after ~200 updates."""
    lines = [ln + ["the"] * 3 for ln in planted_corpus()[:16]]   # a frequent word: negatives repeat
    cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, sample=0, sg=sg, hs=hs, negative=negative,
                          cbow_mean=cbow_mean, workers=1, batch_pairs=1, backend="torch")
    m = Word2Vec(cfg).build_vocab(lines)
    V, D = len(m.vocab), 16
    g = torch.Generator().manual_seed(0)
    m.vectors = (torch.rand(V, D, generator=g) - 0.5) / D
    m.syn1neg = (torch.rand(V, D, generator=g) - 0.5) / D if negative else None   # nonzero: every term counts
    m.syn1 = (torch.rand(V - 1, D, generator=g) - 0.5) / D if hs else None
    empty = np.zeros((0, D), np.float32)
    syn0, syn1neg, syn1 = (t.numpy().copy() if t is not None else empty for t in (m.vectors, m.syn1neg, m.syn1))
    before = syn0.copy()
    ids = m.encode(lines)
    words = torch.from_numpy(np.concatenate(ids))
    line_of = torch.from_numpy(np.repeat(np.arange(len(ids)), [len(x) for x in ids]))
    centers, contexts = torch_sgd.pairs(line_of, cfg.window, g, cbow=not sg)
    centers, contexts = centers[:200], contexts[:200]
    heads, inputs = torch_sgd.examples(m, words, centers, contexts, torch.from_numpy(m.noise_table()), g)
    n = len(centers)
    ref_loss = torch_sgd.sgd(m, heads, inputs, n, 0.05, 0.01, range(n))
    if sg:
        in_ptr, in_rows = np.arange(n + 1, dtype=np.int64), inputs.numpy().astype(np.int32)
    else:
        in_ptr, in_rows = inputs[2].numpy().astype(np.int64), inputs[1].numpy().astype(np.int32)
    lrs = 0.05 + (0.01 - 0.05) * np.arange(n) / n
    ns, hs_ = _numpy_heads(heads, m.syn1neg, n), _numpy_heads(heads, m.syn1, n)
    loss = kernels.train_examples(syn0, syn1neg, *ns, syn1, *hs_, in_ptr, in_rows, lrs, sg, cbow_mean)
    assert loss == pytest.approx(ref_loss, rel=1e-7)
    pairs = [(syn0, m.vectors)] + ([(syn1neg, m.syn1neg)] if negative else []) + ([(syn1, m.syn1)] if hs else [])
    for ours, ref in pairs:
        ref = ref.numpy()
        assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(syn0 - before).max() > 100 * np.abs(syn0 - m.vectors.numpy()).max()   # it did train


@pytest.mark.parametrize("sg", [1, 0], ids=["sg", "cbow"])
def test_compiled_and_torch_training_agree_in_distribution(sg):
    """Each path draws its own subsample, windows and negatives: kept words and examples agree with
    each other and with the expectation, and both reach the same loss (2%)."""
    lines = planted_corpus()[:300]
    runs = {}
    for backend in ("numba", "torch"):
        cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, epochs=6, sample=1e-2, workers=1, alpha=0.05,
                              sg=sg, batch_pairs=64, backend=backend)
        runs[backend] = Word2Vec(cfg).fit(lines)
    m, t = runs["numba"], runs["torch"]
    kept = {b: sum(h["words_per_s"] * h["seconds"] for h in r.history) for b, r in runs.items()}
    expected = 6 * float((m.counts * m.keep_probs()).sum())
    assert kept["numba"] == pytest.approx(expected, rel=0.03) and kept["torch"] == pytest.approx(expected, rel=0.03)
    assert sum(h["pairs"] for h in m.history) == pytest.approx(sum(h["pairs"] for h in t.history), rel=0.03)
    assert m.history[-1]["loss"] == pytest.approx(t.history[-1]["loss"], rel=0.02)
    assert m.history[-1]["loss"] < m.history[0]["loss"]


def test_huffman_tree_is_an_optimal_prefix_code():
    counts = np.array([50, 30, 9, 5, 3, 2, 1])
    ptr, points, labels = huffman_tree(counts)
    codes = ["".join(str(1 - b) for b in labels[ptr[w]:ptr[w + 1]]) for w in range(len(counts))]
    assert all(not b.startswith(a) for a in codes for b in codes if a != b)        # prefix-free
    assert sum(2.0 ** -len(c) for c in codes) == 1.0                               # a full binary tree
    assert [len(c) for c in codes] == sorted(len(c) for c in codes)                # frequent words: short codes
    heap, cost = sorted(counts.tolist()), 0                                        # the Huffman cost
    while len(heap) > 1:
        a, b = heap.pop(0), heap.pop(0)
        cost += a + b
        heap = sorted(heap + [a + b])
    assert sum(n * len(c) for n, c in zip(counts, codes)) == cost
    assert set(points.tolist()) == set(range(len(counts) - 1)) and all(p[0] == len(counts) - 2 for p in
                                                                        [points[ptr[w]:ptr[w + 1]] for w in range(7)])


@pytest.mark.parametrize("sg", [1, 0], ids=["sg", "cbow"])
def test_hierarchical_softmax_learns_planted_structure(sg):
    cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, epochs=10, sample=0, workers=1, alpha=0.05,
                          sg=sg, hs=1, negative=0)
    m = Word2Vec(cfg).fit(planted_corpus())
    assert m.syn1neg is None and m.syn1.shape == (len(m.vocab) - 1, 16)
    for w in ("fruit3", "tool7"):
        assert all(x.startswith(w[:4]) for x, _ in nearest(m.vocab, m.vectors, [w], k=5))
    assert m.history[-1]["loss"] < m.history[0]["loss"]
    again = Word2Vec(Word2Vec.Config(**cfg.__dict__)).fit(planted_corpus())
    assert torch.equal(m.vectors, again.vectors)                                   # one worker: deterministic


def test_two_workers_hogwild_recover_structure():
    cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, epochs=10, sample=0, workers=2, alpha=0.05)
    m = Word2Vec(cfg).fit(planted_corpus() * 4)
    top = [x for x, _ in nearest(m.vocab, m.vectors, ["fruit3"], k=5)]
    assert all(x.startswith("fruit") for x in top), top


def test_hs_checkpoint_and_word2vec_files_round_trip(tmp_path):
    cfg = Word2Vec.Config(min_count=1, vector_size=8, epochs=2, sample=0, workers=1, hs=1, negative=2)
    m = Word2Vec(cfg).fit(planted_corpus()[:100])
    torch.save({"model": m.state()}, tmp_path / "w.pt")
    state = torch.load(tmp_path / "w.pt", weights_only=True)["model"]
    back = Word2Vec.from_state(Word2Vec.Config(**cfg.__dict__), state)
    assert torch.equal(back.vectors, m.vectors) and torch.equal(back.syn1, m.syn1)
    assert torch.equal(back.syn1neg, m.syn1neg)
    gensim = pytest.importorskip("gensim")
    for binary in (False, True):
        path = tmp_path / f"v{int(binary)}.txt"
        write_word2vec(back.vocab, back.vectors, path, binary=binary)
        kv = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert kv.index_to_key == m.vocab and np.array_equal(kv.vectors, m.vectors.numpy())


def test_alias_table_draws_the_unigram_table_exactly():
    rng = np.random.default_rng(0)
    for V, T in ((1, 5), (3, 10), (50, 12345)):
        table = np.sort(rng.integers(0, V, T)).astype(np.int32)
        thr, alias = kernels.alias_table(table, V)
        p = np.zeros(V)
        np.add.at(p, np.arange(V), thr / T / V)
        np.add.at(p, alias, (T - thr) / T / V)
        assert np.allclose(p, np.bincount(table, minlength=V) / T, rtol=0, atol=1e-15)


def test_jobs_cover_the_corpus_at_line_starts():
    starts = np.array([0, 3, 30_000, 30_004, 45_000])            # one line of ~30k words
    jobs = job_bounds(starts, 10_000)
    assert jobs[0] == 0 and jobs[-1] == 45_000 and (np.diff(jobs) > 0).all() and np.diff(jobs).max() < 20_000
    cuts = [j for j in jobs[1:-1] if j not in starts]
    assert cuts and all(3 < j < 30_000 for j in cuts)             # only the long line is cut


def test_config_errors_name_the_keys():
    with pytest.raises(ConfigError, match="model.negative=0.*model.hs=1"):
        Word2Vec(Word2Vec.Config(hs=0, negative=0))
    m = Word2Vec(Word2Vec.Config(backend="numba", device="cuda"))
    with pytest.raises(ConfigError, match="model.backend=numba.*model.device=cuda"):
        m.fit(planted_corpus()[:5])
