"""word2vec: noise table, subsampling, pair generation, planted structure (both trainers), export,
queries, scripts. The compiled trainer against the torch reference: test_word2vec_kernels.py."""

import numpy as np
import pytest
import torch

from seqgen.families.word2vec.model import _TABLE, Word2Vec
from seqgen.families.word2vec.torch_sgd import pairs as _pairs
from seqgen.families.word2vec.vectors import (
    VocabularyError,
    _pearson,
    analogy_scores,
    evaluate_analogies,
    nearest,
    spearman,
)
from tests.conftest import run_script


def test_noise_distribution_is_unigram_to_the_075():
    m = Word2Vec(Word2Vec.Config(min_count=1)).build_vocab([["a"] * 16 + ["b"] * 4 + ["c"]])
    p = m.noise_distribution()
    expected = np.array([16, 4, 1]) ** 0.75
    assert np.allclose(p, expected / expected.sum())
    table = np.minimum(np.searchsorted(np.cumsum(p), (np.arange(_TABLE) + 0.5) / _TABLE), 2)
    assert np.allclose(np.bincount(table) / _TABLE, p, atol=1e-6)  # the unigram table samples p


def test_subsampling_keep_probability_formula():
    m = Word2Vec(Word2Vec.Config(min_count=1, sample=1e-3)).build_vocab([["the"] * 900 + ["rare"] * 100])
    t = 1e-3 * 1000
    f = np.array([900, 100])
    assert np.allclose(m.keep_probs(), np.minimum(1, (np.sqrt(f / t) + 1) * t / f))


@pytest.mark.parametrize("cbow", [False, True])
def test_pairs_stay_inside_lines_and_windows(cbow):
    g = torch.Generator().manual_seed(0)
    lines = torch.tensor([0] * 7 + [1] * 3 + [2] * 9)
    centers, ctx = _pairs(lines, 3, g, cbow=cbow)
    if cbow:
        ok = ctx >= 0
        assert ok.any(1).all()
        assert (lines[ctx.clamp(min=0)] == lines[centers][:, None])[ok].all()
        assert ((ctx - centers[:, None]).abs() <= 3)[ok].all()
    else:
        assert (lines[centers] == lines[ctx]).all() and ((ctx - centers).abs() <= 3).all()
        assert (ctx != centers).all()


def planted_corpus(seed=0):
    """Two topics with disjoint vocabularies; each line draws from one topic only."""
    rng = np.random.default_rng(seed)
    topics = [[f"fruit{i}" for i in range(10)], [f"tool{i}" for i in range(10)]]
    return [[str(w) for w in rng.choice(topics[i % 2], 12)] for i in range(600)]


@pytest.fixture
def one_torch_thread():
    """Tiny tensors on the torch path: a second intra-op thread only waits for a busy core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_planted_structure_is_recovered_and_deterministic(backend, one_torch_thread):
    cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, epochs=10, sample=0, workers=1, alpha=0.05,
                          batch_pairs=128, backend=backend)
    m = Word2Vec(cfg).fit(planted_corpus())
    for w in ("fruit3", "tool7"):
        top = [x for x, _ in nearest(m.vocab, m.vectors, [w], k=5)]
        assert all(x.startswith(w[:4]) for x in top), (w, top)
    again = Word2Vec(Word2Vec.Config(**{**cfg.__dict__})).fit(planted_corpus())
    assert torch.equal(m.vectors, again.vectors)  # one worker: same seed, same vectors
    assert m.history[-1]["loss"] < m.history[0]["loss"]
    cb = Word2Vec(Word2Vec.Config(**{**cfg.__dict__, "sg": 0})).fit(planted_corpus())
    top = [x for x, _ in nearest(cb.vocab, cb.vectors, ["fruit1"], k=5)]
    assert all(x.startswith("fruit") for x in top)


def test_analogy_on_constructed_vectors():
    vocab = ["man", "woman", "king", "queen", "apple"]
    vec = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, -1]])
    q = [("x", "man", "woman", "king", "queen"), ("x", "man", "woman", "king", "unknownword")]
    r = evaluate_analogies(vocab, vec, q, restrict_vocab=5)
    assert r["accuracy"] == 1.0 and r["answered"] == 1 and r["oov_ratio"] == 0.5
    with pytest.raises(VocabularyError, match="not in the vocabulary.*unknownword"):
        nearest(vocab, vec, ["unknownword"])


def test_analogy_scores_and_correlations_match_their_references(monkeypatch):
    """One pass for 3CosAdd and 3CosMul equals each method's direct definition (argmax over the
    restricted vocabulary, a, b, c excluded), with the distinct words' cosine table and with a table
    per block of questions when it would be too big; Spearman / Pearson equal scipy's, ties included."""
    from seqgen.families.word2vec import vectors as vectors_mod

    g = torch.Generator().manual_seed(0)
    vocab = [f"w{i}" for i in range(400)]
    vec = torch.randn(400, 16, generator=g)
    qs = [("s", *(vocab[int(i)] for i in torch.randint(0, 400, (4,), generator=g))) for _ in range(600)]
    both = analogy_scores(vocab, vec, qs, restrict_vocab=300)
    monkeypatch.setattr(vectors_mod, "_TABLE_ELEMS", 300 * 50)      # blocks of 16 questions
    assert analogy_scores(vocab, vec, qs, restrict_vocab=300) == both
    none = analogy_scores(vocab[:2], vec[:2], qs, restrict_vocab=300)   # every question out of vocabulary
    assert none["add"] == {"accuracy": 0.0, "correct": 0, "answered": 0, "oov_ratio": 1.0}
    U = vec[:300] / vec[:300].norm(dim=1, keepdim=True)
    index = {w: i for i, w in enumerate(vocab[:300])}
    for method in ("add", "mul"):
        correct = answered = 0
        for q in qs:
            if not all(w in index for w in q[1:]):
                continue
            a, b, c, d = (index[w] for w in q[1:])
            cos = U @ U.T
            if method == "add":
                score = (U[b] - U[a] + U[c]) @ U.T
            else:
                score = ((cos[b] + 1) / 2) * ((cos[c] + 1) / 2) / ((cos[a] + 1) / 2 + 1e-6)
            score[[a, b, c]] = float("-inf")
            correct += int(score.argmax()) == d
            answered += 1
        assert both[method]["answered"] == answered and abs(both[method]["correct"] - correct) <= 1, method
        assert evaluate_analogies(vocab, vec, qs, 300, method) == both[method]
    stats = pytest.importorskip("scipy.stats")
    x = np.round(np.random.default_rng(0).normal(size=200), 1)     # many ties
    y = x + np.random.default_rng(1).normal(size=200)
    assert abs(spearman(x, y) - stats.spearmanr(x, y).statistic) < 1e-12
    assert abs(_pearson(x, y) - stats.pearsonr(x, y).statistic) < 1e-12


def test_train_query_export_through_scripts(tmp_path):
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(" ".join(ln) for ln in planted_corpus()))
    over = [f"data.train={corpus}", f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}",
            "run_name=w", "model=word2vec", "data=text_files", "data.tokenizer=word", "model.min_count=1",
            "model.vector_size=16", "model.epochs=2", "model.eval_sets=false", "model.sample=0"]
    res = run_script(["scripts/train.py", *over])
    assert "epoch 2: loss" in res.stdout
    import json

    rows = [json.loads(x) for x in (tmp_path / "out" / "w" / "metrics.jsonl").read_text().splitlines()]
    assert sum("train/loss" in r for r in rows) == 2 and sum("epoch/loss" in r for r in rows) == 2
    ckpt = tmp_path / "out" / "w" / "checkpoints" / "last.pt"
    out = run_script(["scripts/sample.py", f"ckpt={ckpt}", "prompt=fruit1", "top_k=3", f"out={tmp_path / 'n.txt'}"])
    assert "fruit" in out.stdout
    bad = run_script(["scripts/sample.py", f"ckpt={ckpt}", "prompt=banana"], check=False)
    assert bad.returncode == 2 and "not in the vocabulary" in bad.stderr
    gensim = pytest.importorskip("gensim")
    state = torch.load(ckpt, weights_only=True)["model"]
    for fmt, binary in (("word2vec", False), ("word2vec_binary", True)):
        path = tmp_path / f"v.{fmt}"
        run_script(["scripts/export.py", f"ckpt={ckpt}", f"format={fmt}", f"out={path}"])
        kv = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert kv.index_to_key == state["vocab"] and np.array_equal(kv.vectors, state["vectors"].numpy())


def test_gpt_embeddings_initialised_from_word2vec(tmp_path, corpus):
    from seqgen.app.train import train
    from tests.conftest import compose, tiny_overrides

    common = [f"data.train={corpus['train']}", "data=text_files", "data.tokenizer=word",
              f"data_root={tmp_path / 'data'}", f"out_root={tmp_path / 'out'}"]
    w2v = train(compose(["model=word2vec", "run_name=w", "model.min_count=1", "model.vector_size=32",
                         "model.epochs=1", "model.eval_sets=false", *common]))
    over = tiny_overrides(tmp_path, corpus, "data.tokenizer=word", f"+init_embeddings={w2v['checkpoint']}",
                          "trainer.max_steps=1", "optim.lr=1e-6", "optim.min_lr=0")
    over = [o for o in over if not o.startswith("data_root") and not o.startswith("out_root")] + common[3:]
    gpt = train(compose(over))
    wte = gpt["model"].wte.weight.detach()
    vec = w2v["model"].vectors
    from seqgen.data.tokenizer import Tokenizer

    tok = Tokenizer.load(gpt["run_dir"] / "tokenizer.json")
    i, j = tok.itos.index("we"), w2v["model"].index["we"]
    cos = torch.nn.functional.cosine_similarity(wte[i], vec[j], dim=0)
    assert cos > 0.999


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_recovers_planted_structure():
    cfg = Word2Vec.Config(min_count=1, vector_size=16, window=3, epochs=10, sample=0, workers=1, alpha=0.05,
                          batch_pairs=128, device="cuda")
    m = Word2Vec(cfg).fit(planted_corpus())
    assert m.vectors.is_cuda
    top = [x for x, _ in nearest(m.vocab, m.vectors.cpu(), ["fruit3"], k=5)]
    assert all(x.startswith("fruit") for x in top)


@pytest.mark.slow
@pytest.mark.parametrize("split,block", [("whitespace", None), ("words", None), ("words", 7)])
def test_fit_from_prepared_ids_equals_the_text_path(tmp_path, corpus, monkeypatch, split, block):
    """word2vec reads the prepared ids + line index (in blocks: block=7 ids cuts lines and words across
    many): the same vocabulary, counts and vectors as re-reading the train text (forced by hiding the
    line index), one worker so both are exact."""
    from seqgen.app.train import train
    from seqgen.data.prepare import PreparedData
    from seqgen.families.word2vec import ids as w2v_ids
    from tests.conftest import compose

    if block:
        monkeypatch.setattr(w2v_ids, "BLOCK", block)
    runs = {}
    for name in ("prepared", "text"):
        if name == "text":
            monkeypatch.setattr(PreparedData, "lines", lambda self, split, blank=False: None)
        runs[name] = train(compose([
            "model=word2vec", f"run_name={name}", "model.min_count=2", "model.vector_size=16", "model.epochs=1",
            "model.workers=1", "model.eval_sets=false", "data=text_files", "data.tokenizer=word",
            f"data.word_split={split}", f"data.train={corpus['train']}", f"data_root={tmp_path / name}",
            f"out_root={tmp_path / 'out'}"]))["model"]
    a, b = runs["prepared"], runs["text"]
    assert a.vocab == b.vocab and np.array_equal(a.counts, b.counts)
    assert torch.equal(a.vectors, b.vectors)
