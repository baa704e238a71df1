"""∞-gram over a suffix array: every query equals a brute-force scan of the documents (boundaries and
the longest-suffix back-off included), shards agree with one index, the fixed order equals the n-gram
family's raw counts, seeded sampling, the copy rate, and clear errors."""

import numpy as np
import pytest

from seqgen.core.errors import DataError
from seqgen.families.infgram.engine import Engine, QueryError
from seqgen.families.infgram.generate import copy_report, infgram_ids
from seqgen.families.infgram.index import build
from seqgen.families.infgram.model import InfGram

NL = 0   # the boundary (newline) id in these corpora


def corpus(seed, n=600, V=5, p_nl=0.12):
    """Random tokens 1..V-1 with newline 0 about every 1 / p_nl tokens (empty lines included)."""
    rng = np.random.default_rng(seed)
    toks = rng.integers(1, V, n)
    toks[rng.random(n) < p_nl] = NL
    return toks.astype(np.uint16)


def docs_of(toks):
    parts = np.split(toks, np.flatnonzero(toks == NL))
    docs = [list(parts[0])] + [list(p[1:]) for p in parts[1:]]
    if len(toks) and toks[-1] == NL:
        docs = docs[:-1]          # a final newline ends the last document, it opens no new one
    return docs


def padded(toks):
    """The brute-force reference text: S = SEP d1 SEP d2 ... SEP, SEP written as the id -1."""
    S = [-1]
    for d in docs_of(toks):
        S += [int(t) for t in d] + [-1]
    return S


def occurrences(S, q):
    q = [-1 if t == NL else int(t) for t in q]
    if any(t == -1 for t in q[1:-1]):
        return []                 # would join two documents
    m = len(q)
    return [i for i in range(len(S) - m + 1) if S[i:i + m] == q]


def brute_ntd(S, q):
    qq = [-1 if t == NL else int(t) for t in q]
    if len(qq) > 1 and qq[-1] == -1:
        return {}
    out = {}
    for i in occurrences(S, q) if q else range(1, len(S)):   # nothing predicts the opening SEP
        if i + len(q) < len(S):
            t = S[i + len(q)]
            t = NL if t == -1 else t
            out[t] = out.get(t, 0) + 1
    return out


def brute_infgram(S, q):
    for k in range(len(q), -1, -1):
        d = brute_ntd(S, q[len(q) - k:])
        if d:
            return k, d
    raise AssertionError


def engine(tmp_path, toks, V=5, shard_tokens=10_000, name="idx"):
    build(toks, tmp_path / name, V, NL, shard_tokens, verbose=False)
    return Engine(tmp_path / name)


def queries(toks, rng, count=150):
    """Substrings of the corpus (many crossing newlines) and random id strings, lengths 1..8."""
    out = []
    for _ in range(count):
        m = int(rng.integers(1, 9))
        if rng.random() < 0.7:
            a = int(rng.integers(0, len(toks) - m))
            out.append([int(t) for t in toks[a:a + m]])
        else:
            out.append([int(t) for t in rng.integers(0, 5, m)])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_queries_equal_brute_force(tmp_path, seed):
    toks = corpus(seed)
    S = padded(toks)
    eng = engine(tmp_path, toks)
    rng = np.random.default_rng(100 + seed)
    assert eng.num_docs == len(docs_of(toks)) == eng.count([NL])["count"]
    unigram = eng.ntd([])
    assert {t: r["cont_cnt"] for t, r in unigram["result_by_token_id"].items()} == brute_ntd(S, [])
    assert eng.prob([], NL)["cont_cnt"] == eng.num_docs
    for q in queries(toks, rng):
        assert eng.count(q)["count"] == len(occurrences(S, q)) - (q == [NL]), q
        want = brute_ntd(S, q)
        got = eng.ntd(q)
        assert got["prompt_cnt"] == sum(want.values())
        assert {t: r["cont_cnt"] for t, r in got["result_by_token_id"].items()} == want, q
        total = sum(want.values())
        for t, r in got["result_by_token_id"].items():
            assert r["prob"] == pytest.approx(want[t] / total)
        c = int(rng.integers(0, 5))
        p = eng.prob(q, c)
        assert (p["prompt_cnt"], p["cont_cnt"]) == (total, want.get(c, 0))
        assert p["prob"] == (want.get(c, 0) / total if total else -1.0)
        k, dist = brute_infgram(S, q)
        ig = eng.infgram_ntd(q)
        assert ig["suffix_len"] == k and {t: r["cont_cnt"] for t, r in ig["result_by_token_id"].items()} == dist
        ip = eng.infgram_prob(q, c)
        assert ip["suffix_len"] == k and ip["cont_cnt"] == dist.get(c, 0)


def test_no_match_crosses_a_document_boundary(tmp_path):
    toks = np.array([1, 2, NL, 3, 4, NL, 1, 2, 3], np.uint16)    # lines: "1 2" "3 4" "1 2 3"
    eng = engine(tmp_path, toks)
    assert eng.count([2, 3])["count"] == 1                      # only inside the last line
    assert eng.count([2, NL, 3])["count"] == 0                  # would join two lines
    assert eng.count([NL, 1])["count"] == 2                     # lines starting with 1
    assert eng.count([2, NL])["count"] == 1 and eng.count([3, NL])["count"] == 1   # lines ending so
    # the ∞-gram backs off to the line start, never past it
    r = eng.infgram_ntd([3, 4, NL, 1, 2])
    assert r["suffix_len"] == 3 and r["result_by_token_id"] == {NL: {"cont_cnt": 1, "prob": 0.5},
                                                                3: {"cont_cnt": 1, "prob": 0.5}}
    assert eng.ntd([4, NL])["prompt_cnt"] == 0                  # what follows a line end is another line
    assert eng.infgram_ntd([4, NL])["suffix_len"] == 1          # ... so the context is the line start
    # a document's end is predicted as the newline id
    assert eng.ntd([1, 2])["result_by_token_id"][NL]["cont_cnt"] == 1


def test_sharded_equals_single(tmp_path):
    toks = corpus(7, n=900)
    one = engine(tmp_path, toks, name="one")
    many = engine(tmp_path, toks, shard_tokens=100, name="many")
    assert len(many.shards) > 5 and many.num_docs == one.num_docs
    rng = np.random.default_rng(3)
    for q in queries(toks, rng, 100):
        assert many.count(q) == one.count(q)
        assert many.ntd(q) == one.ntd(q)
        assert many.infgram_ntd(q) == one.infgram_ntd(q)
        assert many.infgram_ntd(q, min_count=3) == one.infgram_ntd(q, min_count=3)
    seq = np.asarray(toks[100:300], np.int64)
    for key, a in one.score(seq).items():
        assert np.array_equal(a, many.score(seq)[key]), key
    assert np.array_equal(one.match_lengths(seq), many.match_lengths(seq))


def test_score_and_match_lengths_equal_per_query_answers(tmp_path):
    toks = corpus(5, n=500)
    eng = engine(tmp_path, toks)
    seq = np.concatenate([[NL], corpus(6, n=120)]).astype(np.int64)
    r = eng.score(seq)
    for j in range(len(seq) - 1):
        ip = eng.infgram_prob(seq[:j + 1].tolist(), int(seq[j + 1]))
        assert (r["suffix_len"][j], r["prompt_cnt"][j], r["cont_cnt"][j]) == \
            (ip["suffix_len"], ip["prompt_cnt"], ip["cont_cnt"])
        dist = eng.infgram_ntd(seq[:j + 1].tolist())["result_by_token_id"]
        assert r["sparse"][j] == (len(dist) == 1)
    m = eng.match_lengths(seq)
    for j in range(len(seq)):
        k = m[j]
        assert eng.count(seq[j + 1 - k:j + 1].tolist())["count"] > 0 if k else True
        if k < j + 1:
            assert eng.count(seq[j - k:j + 1].tolist())["count"] == 0


def test_fixed_order_is_the_ngram_mle(tmp_path):
    from seqgen.families.ngram.model import BOS, EOS, UNK, NGram

    rng = np.random.default_rng(11)
    lines = [rng.integers(1, 6, int(rng.integers(1, 9))) for _ in range(120)]
    vocab = ["\n", "a", "b", "c", "d", "e"]
    toks = np.concatenate([np.append(ln, NL) for ln in lines]).astype(np.uint16)
    eng = engine(tmp_path, toks, V=6)
    ng = NGram(NGram.Config(order=3, smoothing="wb")).fit([ln.astype(np.int64) for ln in lines],
                                                            vocab + [BOS, EOS, UNK])
    ids = {w: i for i, w in enumerate(vocab)} | {BOS: NL, EOS: NL}
    for n in (2, 3):
        table = ng.count_table(n)
        contexts = {}
        for gram, c in table.items():
            assert eng.count([ids[w] for w in gram])["count"] == c, gram
            contexts.setdefault(gram[:-1], {})[gram[-1]] = c
        for h, nxt in contexts.items():   # unsmoothed MLE p(w | h) = c(h w) / c(h .)
            got = eng.ntd([ids[w] for w in h])
            assert got["prompt_cnt"] == sum(nxt.values())
            for w, c in nxt.items():
                assert got["result_by_token_id"][ids[w]]["prob"] == pytest.approx(c / sum(nxt.values()))
    seq = np.concatenate([[NL], toks[:80]]).astype(np.int64)    # order 3: at most 2 tokens of context
    r = eng.score(seq, max_len=2)
    for j in range(len(seq) - 1):
        k = r["suffix_len"][j]
        assert k <= 2 and r["prob"][j] == eng.prob(seq[j + 1 - k:j + 1].tolist(), int(seq[j + 1]))["prob"]
    for (w,), c in ng.count_table(1).items():
        if w not in (BOS, EOS, UNK):
            assert eng.count([ids[w]])["count"] == c


def test_seeded_sampling_and_back_off_limits(tmp_path):
    toks = corpus(9, n=2000, V=8)
    eng = engine(tmp_path, toks, V=8)
    model = InfGram(InfGram.Config(vocab_size=8), eng)
    a = infgram_ids(model, [1, 2], 60, seed=5, min_count=2)
    assert a == infgram_ids(model, [1, 2], 60, seed=5, min_count=2)
    assert a[0] != infgram_ids(model, [1, 2], 60, seed=6, min_count=2)[0]
    ids, used = infgram_ids(model, [], 80, seed=1, min_count=3, max_suffix_len=4)
    assert max(used) <= 4
    ctx = [NL]
    for t, k in zip(ids, used):       # every context used was seen at least 3 times
        if k:
            assert eng.ntd(ctx[len(ctx) - k:])["prompt_cnt"] >= 3
        ctx.append(t)
    fixed = InfGram(InfGram.Config(vocab_size=8, order=2), eng)
    assert max(infgram_ids(fixed, [3], 50, seed=2, min_count=1)[1]) <= 1


def test_copy_report(tmp_path):
    toks = corpus(4, n=3000, V=30, p_nl=0.005)
    eng = engine(tmp_path, toks, V=30)
    doc = max(docs_of(toks), key=len)
    assert len(doc) > 70
    r = copy_report(eng, doc[:70])
    assert r["copied_64"] == 1.0 and r["match_len_max"] == 70
    rnd = copy_report(eng, np.random.default_rng(0).integers(1, 30, 200))
    assert rnd["copied_8"] == 0.0 and rnd["match_len_max"] < 8


def test_search_docs(tmp_path):
    toks = corpus(8, n=800)
    eng = engine(tmp_path, toks)
    q = [int(t) for t in toks[40:43]]
    r = eng.search_docs(q, maxnum=3, max_disp_len=20)
    assert r["cnt"] == eng.count(q)["count"] and len(r["documents"]) == min(3, r["cnt"])
    for d in r["documents"]:
        assert d["token_ids"][d["needle_offset"]:d["needle_offset"] + 3] == q
        assert d["disp_len"] <= 20 and NL not in d["token_ids"]
    for ix, doc in enumerate(docs_of(toks)):              # empty lines included
        assert eng.get_doc_by_ix(ix)["token_ids"] == [int(t) for t in doc][:1000]


def test_clear_errors(tmp_path):
    toks = corpus(0)
    eng = engine(tmp_path, toks)
    with pytest.raises(QueryError, match="outside the vocabulary"):
        eng.count([1, 5])
    with pytest.raises(QueryError, match="outside the vocabulary"):
        eng.ntd([-1])
    with pytest.raises(QueryError, match="empty"):
        eng.count([])
    with pytest.raises(QueryError, match="integer"):
        eng.count([1.5, 2.0])
    with pytest.raises(QueryError, match="cont_id"):
        eng.prob([1], 99)
    with pytest.raises(DataError, match="no index.json"):
        Engine(tmp_path / "nowhere")
    (tmp_path / "idx" / "table.0.bin").write_bytes((tmp_path / "idx" / "table.0.bin").read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        Engine(tmp_path / "idx")
    (tmp_path / "idx" / "tokens.0.bin").unlink()
    with pytest.raises(DataError, match="missing"):
        Engine(tmp_path / "idx")
    with pytest.raises(DataError, match="outside the vocabulary"):
        build(np.array([1, 7], np.uint16), tmp_path / "bad", 5, NL, 100, verbose=False)


def test_index_size_and_uint32_vocabulary(tmp_path):
    toks = corpus(1, n=5000, V=200, p_nl=0.01)
    build(toks, tmp_path / "i16", 200, NL, 10**6, verbose=False)
    size = sum(p.stat().st_size for p in (tmp_path / "i16").glob("*.bin"))
    assert size / len(toks) <= 6.0                   # 2 bytes token + 2 bytes pointer + separators, offsets
    big = (toks.astype(np.uint32) * 1000)            # ids beyond uint16: the index stores uint32
    build(big, tmp_path / "i32", 200_000, NL, 10**6, verbose=False)
    e16, e32 = Engine(tmp_path / "i16"), Engine(tmp_path / "i32")
    assert e32.shards[0].tok.dtype.itemsize == 4
    for q in queries(toks, np.random.default_rng(2), 40):
        assert e16.count(q) == e32.count([t * 1000 for t in q])


def test_fences_narrow_without_changing_answers(tmp_path):
    """Fence keys are non-decreasing along the suffix array; an index without them (built before they
    existed) answers the same queries identically; a fence file of the wrong size is an error."""
    import json

    toks = corpus(4, n=3000, V=7, p_nl=0.05)
    with_f = engine(tmp_path, toks, V=7, name="f")
    fk = with_f.shards[0].fk
    assert len(fk) == -(-len(with_f.shards[0].tok) // 64) and (np.diff(fk) >= 0).all()
    meta = json.loads((tmp_path / "f" / "index.json").read_text())
    for r in meta["shards"]:
        del r["fences"], r["fence_every"]
    (tmp_path / "f" / "index.json").write_text(json.dumps(meta))
    without = Engine(tmp_path / "f")
    assert len(without.shards[0].fk) == 0
    for q in queries(toks, np.random.default_rng(5), 200):
        assert without.count(q) == with_f.count(q) and without.ntd(q) == with_f.ntd(q), q
        assert without.infgram_ntd(q) == with_f.infgram_ntd(q)
    build(toks, tmp_path / "g", 7, NL, 10**6, verbose=False)
    with open(tmp_path / "g" / "fence.0.bin", "ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(DataError, match="fence.0.bin.*too long"):
        Engine(tmp_path / "g")


def test_every_short_query_equals_brute_force_with_id_0_a_real_token(tmp_path):
    """Every query of 1-3 tokens over a 4-id alphabet whose boundary is 3 (so id 0, the fence keys'
    padding, is a real token), on 40 corpus sizes: the shard's last suffixes (shorter than a key) fall
    on a fence in some of them, and must not be taken for matches."""
    import itertools

    for seed in range(40):
        rng = np.random.default_rng(seed)
        toks = rng.integers(0, 3, int(rng.integers(60, 400))).astype(np.uint16)
        toks[rng.random(len(toks)) < 0.1] = 3
        build(toks, tmp_path / str(seed), 4, 3, 10_000, verbose=False)
        eng = Engine(tmp_path / str(seed))
        S = [-1]
        for t in toks.tolist():
            S.append(-1 if t == 3 else t)
        if S[-1] != -1:
            S.append(-1)
        for m in (1, 2, 3):
            for q in itertools.product(range(4), repeat=m):
                qq = [-1 if t == 3 else t for t in q]
                want = 0 if -1 in qq[1:-1] else sum(S[i:i + m] == qq for i in range(len(S) - m + 1))
                want -= q == (3,)            # the boundary alone: documents, not the opening separator
                assert eng.count(list(q))["count"] == want, (seed, q)


def test_hybrid_lambda_per_bucket():
    from seqgen.app.infgram_eval import tune

    rng = np.random.default_rng(0)
    lp = np.log(rng.uniform(0.05, 0.3, 400))
    bucket = np.repeat([0, 7], 200)
    p_inf = np.concatenate([np.ones(200), np.zeros(200)])   # always right in bucket 0, never in 7
    lam = tune(lp, p_inf, bucket)
    assert lam[0] == pytest.approx(0.99) and lam[7] == 0.0


@pytest.mark.slow
def test_scripts_fit_sample_evaluate_and_gpt_audits(tmp_path, corpus):
    import json

    from tests.conftest import run_script

    data = ["data=text_files", "data.tokenizer=word", "data.word_split=words", f"data.train={corpus['train']}",
            f"data.valid={corpus['valid']}", f"data.test={corpus['test']}", f"out_root={tmp_path / 'out'}",
            f"data_root={tmp_path / 'data'}"]
    run_script(["scripts/train.py", "model=infgram", "run_name=i", *data])
    run_script(["scripts/train.py", "model=gpt_tiny", "trainer=smoke", "run_name=g", *data])
    run_script(["scripts/train.py", "model=ngram", "model.order=3", "run_name=n", *data])
    ickpt, gckpt = tmp_path / "out/i/checkpoints/last.pt", tmp_path / "out/g/checkpoints/last.pt"
    out = tmp_path / "s.txt"
    run_script(["scripts/sample.py", f"ckpt={ickpt}", "prompt=First", "max_new_tokens=20", "seed=3", f"out={out}"])
    first = out.read_text()
    run_script(["scripts/sample.py", f"ckpt={ickpt}", "prompt=First", "max_new_tokens=20", "seed=3", f"out={out}"])
    assert out.read_text() == first and first.startswith("First")
    run_script(["scripts/evaluate.py", f"ckpt={ickpt}", f"out={tmp_path / 'i.json'}"])
    assert 0 < json.loads((tmp_path / "i.json").read_text())["agreement"] <= 1
    run_script(["scripts/evaluate.py", f"ckpt={gckpt}", f"copy_index={ickpt}", f"infgram={ickpt}",
                f"kn={tmp_path / 'out/n/checkpoints/last.pt'}",
                f"out={tmp_path / 'g.json'}"])
    r = json.loads((tmp_path / "g.json").read_text())
    assert r["hybrid/model_ppl"] == pytest.approx(r["ppl"], rel=1e-4)
    assert r["hybrid/ppl"] <= r["hybrid/model_ppl"] and 0 <= r["copy/samples_copied_8"] <= 1
    assert r["kn_hybrid/ppl"] <= r["hybrid/model_ppl"] * (1 + 1e-9) and 0 <= r["kn_hybrid/lambda"] < 1


def test_load_engine_from_folders_and_checkpoints(tmp_path):
    from seqgen.core import checkpoint as ckpt
    from seqgen.core.errors import CheckpointError
    from seqgen.families.infgram import load_engine

    toks = corpus(3)
    build(toks, tmp_path / "run" / "index", 5, NL, 10_000, verbose=False)
    for where in (tmp_path / "run" / "index", tmp_path / "run"):
        assert load_engine(where).count([1])["count"] == int((toks == 1).sum())
    with pytest.raises(DataError, match="no index.json"):
        load_engine(tmp_path)
    with pytest.raises(DataError, match="no such"):
        load_engine(tmp_path / "missing.pt")
    other = tmp_path / "gpt.pt"
    ckpt.save({"model_name": "gpt", "model_config": {}, "model": {}, "step": 0, "config": {}}, other)
    with pytest.raises(CheckpointError, match="not an infgram"):
        load_engine(other)


def test_kn_stream_scores_align_with_the_token_stream():
    from seqgen.app.infgram_eval import ngram_stream_logprobs
    from seqgen.families.ngram.model import BOS, EOS, NGram, score_lines

    rng = np.random.default_rng(1)
    lines = [rng.integers(1, 6, int(rng.integers(0, 6))) for _ in range(60)]
    vocab = ["<unk>", "\n", "a", "b", "c", "d"]
    lines = [ln + (ln >= 1) for ln in lines]                # ids 2..6 -> keep 1 for the newline
    lines = [np.where(ln > 5, 5, ln) for ln in lines]
    ng = NGram(NGram.Config(order=3, smoothing="wb")).fit(lines, vocab + [BOS, EOS])
    stream = np.concatenate([np.append(ln, 1) for ln in lines[:20]] + [lines[20]]).astype(np.int64)
    lp = ngram_stream_logprobs(ng, stream, 1)
    assert len(lp) == len(stream) - 1
    per_line = np.concatenate([score_lines(ng, [ln]) for ln in lines[:21]]) * np.log(10)
    assert np.allclose(lp, per_line[1:-1])                 # the last line's </s> is beyond the stream
    ends = np.concatenate([np.append(ln, 1) for ln in lines[:5]]).astype(np.int64)
    assert len(ngram_stream_logprobs(ng, ends, 1)) == len(ends) - 1
