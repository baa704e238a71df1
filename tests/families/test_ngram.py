"""N-gram LM: hand-checked counts, normalisation, ARPA round trip, KenLM ARPA, errors, scripts."""

import math

import numpy as np
import pytest

from seqgen.families.ngram.io import read_arpa, write_arpa
from seqgen.families.ngram.markov import MarkovChain
from seqgen.families.ngram.model import BOS, EOS, UNK, NGram, next_log10probs, perplexity, score_lines
from tests.conftest import run_script, tiny_overrides

LINES = ["a b", "a c", "b a b", "c c a b"]


def fit(order=3, smoothing="mkn", lines=LINES):
    words = sorted({w for ln in lines for w in ln.split()})
    vocab = [UNK, BOS, EOS] + words
    stoi = {w: i for i, w in enumerate(vocab)}
    enc = [np.array([stoi.get(w, 0) for w in ln.split()]) for ln in lines]
    with pytest.warns(UserWarning, match="undefined") if smoothing == "mkn" else _nullcontext():
        model = NGram(NGram.Config(order=order, smoothing=smoothing)).fit(enc, vocab)
    return model, stoi


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_counts_match_hand_computed():
    model, _ = fit(3)
    bigrams = model.count_table(2)
    assert bigrams == {(BOS, "a"): 2, ("a", "b"): 3, ("b", EOS): 3, ("a", "c"): 1, ("c", EOS): 1,
                       (BOS, "b"): 1, ("b", "a"): 1, (BOS, "c"): 1, ("c", "c"): 1, ("c", "a"): 1}
    # Kneser-Ney: a unigram's adjusted count is the number of distinct words before it
    uni = model.count_table(1, adjusted=True)
    assert uni == {("a",): 3, ("b",): 2, ("c",): 3, (EOS,): 2}  # c <- a, <s>, c
    # <s>-initial bigrams keep their raw counts; others count distinct left contexts
    adj2 = model.count_table(2, adjusted=True)
    assert adj2[(BOS, "a")] == 2 and adj2[("a", "b")] == 3  # (a b) follows <s>, b and c


@pytest.mark.parametrize("smoothing", ["mkn", "wb"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_sums_to_one(order, smoothing):
    model, stoi = fit(order, smoothing)
    contexts = [[stoi[BOS]], [stoi[BOS], stoi["a"]], [stoi["a"], stoi["b"]], [stoi["c"], stoi["c"], stoi["a"]],
                [stoi["b"], stoi["b"]], [stoi[UNK]], []]
    p = 10 ** next_log10probs(model, contexts)
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_full_distribution_agrees_with_scoring():
    model, stoi = fit(3)
    lines = [np.array([stoi["a"], stoi["c"], stoi["b"]])]
    lp = score_lines(model, lines)  # a | <s> ; c | <s> a ; b | a c ; </s> | c b
    ctx = [[stoi[BOS]], [stoi[BOS], stoi["a"]], [stoi["a"], stoi["c"]], [stoi["c"], stoi["b"]]]
    tgt = [stoi["a"], stoi["c"], stoi["b"], stoi[EOS]]
    dist = next_log10probs(model, ctx)
    assert np.allclose(lp, dist[np.arange(4), tgt], atol=1e-6)


def test_unk_and_unseen_contexts_are_finite():
    model, stoi = fit(3)
    r = perplexity(model, [np.array([stoi[UNK], stoi["c"], stoi[UNK], stoi["b"]])])
    assert math.isfinite(r["ppl"]) and r["oov"] == 2 and r["tokens"] == 5


def test_arpa_round_trip_is_identical(tmp_path):
    model, stoi = fit(3)
    write_arpa(model, tmp_path / "m.arpa")
    again = read_arpa(tmp_path / "m.arpa", vocab_order=model.vocab)
    for a, b in zip(model.logp + model.bow, again.logp + again.bow):
        assert np.array_equal(a, b)
    lines = [np.array([stoi["a"], stoi["b"], stoi["c"]])]
    assert np.array_equal(score_lines(model, lines), score_lines(again, lines))


KENLM_ARPA = """\\data\\
ngram 1=5
ngram 2=4

\\1-grams:
-1.0000000\t<unk>\t0
-99\t<s>\t-0.30103
-0.69897\t</s>\t0
-0.52288\ta\t-0.17609
-0.52288\tb\t-0.17609

\\2-grams:
-0.30103\t<s> a
-0.30103\ta b
-0.30103\tb </s>
-0.47712\ta </s>

\\end\\
"""


def test_kenlm_format_arpa_loads_and_scores(tmp_path):
    path = tmp_path / "kenlm.arpa"
    path.write_text(KENLM_ARPA)
    model = read_arpa(path)
    stoi = {w: i for i, w in enumerate(model.vocab)}
    lp = score_lines(model, [np.array([stoi["a"], stoi["b"]])])
    assert np.allclose(lp, [-0.30103, -0.30103, -0.30103], atol=1e-6)
    lp = score_lines(model, [np.array([stoi["b"]])])  # b | <s>: backoff(<s>) + p(b)
    assert np.allclose(lp[0], -0.30103 - 0.52288, atol=1e-6)


def test_bad_corpora_are_clear_errors():
    with pytest.raises(ValueError, match="empty corpus"):
        NGram(NGram.Config(order=3)).fit([], [UNK, BOS, EOS])
    with pytest.raises(ValueError, match="lower model.order"):
        fit(6, "wb", lines=["a", "b a"])


def test_markov_chain_weather():
    P = [[0.8, 0.15, 0.05], [0.3, 0.5, 0.2], [0.25, 0.25, 0.5]]
    chain = MarkovChain(["sunny", "cloudy", "rainy"], P)
    seq = chain.sample("sunny", 20000, seed=0)
    est = MarkovChain.fit(seq, chain.states)
    assert np.allclose(est.P, P, atol=0.03)
    pi = chain.stationary()
    assert np.allclose(np.array(list(pi.values())) @ np.array(P), list(pi.values()))
    freq = {s: seq.count(s) / len(seq) for s in chain.states}
    assert all(abs(freq[s] - pi[s]) < 0.03 for s in chain.states)
    assert chain.predict("rainy")["rainy"] == 0.5 and abs(sum(chain.predict("sunny", 3).values()) - 1) < 1e-12


def test_train_sample_export_through_scripts(tmp_path, corpus):
    over = [o for o in tiny_overrides(tmp_path, corpus, "data.tokenizer=word") if not o.startswith("model=")]
    res = run_script(["scripts/train.py", "model=ngram", "model.order=3", *over])
    assert "test: perplexity" in res.stdout
    last = tmp_path / "out" / "t" / "checkpoints" / "last.pt"
    out = tmp_path / "s.txt"
    run_script(["scripts/sample.py", f"ckpt={last}", "prompt=First", "max_new_tokens=15", "seed=1", f"out={out}"])
    first = out.read_text()
    run_script(["scripts/sample.py", f"ckpt={last}", "prompt=First", "max_new_tokens=15", "seed=1", f"out={out}"])
    assert out.read_text() == first and first.startswith("First")
    arpa = tmp_path / "m.arpa"
    run_script(["scripts/export.py", f"ckpt={last}", "format=arpa", f"out={arpa}"])
    back = tmp_path / "back.pt"
    run_script(["scripts/export.py", f"arpa={arpa}", "format=checkpoint", f"out={back}"])
    run_script(["scripts/sample.py", f"ckpt={back}", "prompt=First", "max_new_tokens=5", f"out={out}"])
    import torch

    state = torch.load(back, weights_only=True)
    assert state["model_name"] == "ngram"


def test_forward_protocol_matches_scoring():
    import torch

    model, stoi = fit(3)
    row = [stoi["a"], stoi["c"], stoi["b"]]
    logits = model(torch.tensor([row]))
    assert logits.shape == (1, 3, model.V)
    assert torch.allclose(logits.exp().sum(-1), torch.ones(1, 3, dtype=logits.dtype), atol=1e-5)
    lp = score_lines(model, [np.array(row)])  # c | <s> a  and  b | a c
    assert np.allclose(logits[0, 0, stoi["c"]].item() / math.log(10), lp[1], atol=1e-6)
    assert np.allclose(logits[0, 1, stoi["b"]].item() / math.log(10), lp[2], atol=1e-6)


def test_refit_refuses_another_order_in_the_same_run(tmp_path, corpus):
    from seqgen.app.train import train
    from seqgen.core.errors import ConfigError
    from tests.conftest import compose

    over = [o for o in tiny_overrides(tmp_path, corpus) if not o.startswith("model=")]
    first = train(compose(["model=ngram", *over]))
    assert first["metrics"]["val/ppl"] > 1
    assert train(compose(["model=ngram", *over]))["metrics"]["val/ppl"] == first["metrics"]["val/ppl"]
    with pytest.raises(ConfigError, match="model.order: 3 there, 4 now"):
        train(compose(["model=ngram", "model.order=4", *over]))


@pytest.mark.parametrize("blank", [False, True])
def test_train_and_evaluate_report_one_perplexity(tmp_path, corpus, blank):
    """One checkpoint, one figure: train.py's test perplexity is evaluate.py's (they were 96.15 vs
    103.39 on the word 3-gram: evaluate.py coded blank lines the model never saw as sentences). The
    whole-text coding of a model that skips blank lines is named `ppl_every_line`."""
    from seqgen.app.evaluate import evaluate
    from seqgen.app.train import train
    from tests.conftest import compose

    over = [o for o in tiny_overrides(tmp_path, corpus) if not o.startswith("model=")]
    res = train(compose(["model=ngram", "data.tokenizer=word", f"model.blank_lines={str(blank).lower()}", *over]))
    ev = evaluate({"ckpt": str(res["checkpoint"]), "data_root": str(tmp_path / "data"), "split": "test"})
    assert ev["ppl"] == pytest.approx(res["metrics"]["test/ppl"], rel=1e-9)
    assert ev["bpc"] == pytest.approx(res["metrics"]["test/bpc"], rel=1e-9)
    assert ev["lines"] == ("every line" if blank else "non-empty lines (KenLM)")
    assert ("ppl_every_line" in ev) == (not blank)
    if not blank:   # the tiny corpus has blank lines: coding them too is another, named figure
        assert ev["ppl_every_line"] != pytest.approx(ev["ppl"])
