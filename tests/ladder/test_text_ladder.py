"""The wordmix text ladder: bits per byte with out-of-vocabulary words paid for, and --quick end to end."""

import json
import math
from itertools import product

import numpy as np
import pytest

from tests.conftest import run_script

TRAIN = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\nzebra quagga okapi\n" * 3


def test_speller_is_a_distribution_over_letter_strings():
    """p_spell sums to at most 1 over every string (here: the strings of the two training letters up to
    5 long), so charging OOV words with it never prices text below its information."""
    from seqgen.ladder.text import fit_speller, spell_nats

    speller = fit_speller("ab ba abba baab aab ab ba\n", order=3)
    words = ["".join(w) for n in range(1, 6) for w in product("ab", repeat=n)]
    total = float(np.exp(-spell_nats(speller, words)).sum())
    assert 0.3 < total <= 1.0 + 1e-9   # the rest: strings with letters never seen in training, or longer
    longer = ["".join(w) for w in product("ab", repeat=6)]
    assert float(np.exp(-spell_nats(speller, longer)).sum()) < 1 - total + 1e-9
    # printable ASCII is in the alphabet even when unseen; anything else pays a uniform byte code
    assert 0 < spell_nats(speller, ["xyz"])[0] < 40 * math.log(2)
    assert spell_nats(speller, ["ab\u00e9"])[0] == pytest.approx(5 * math.log(256))


def test_word_ngram_pays_for_oov_words():
    from seqgen.data.tokenizer import WordTokenizer
    from seqgen.families.ngram.fit import fit_text
    from seqgen.ladder.text import fit_speller, spell_nats, word_ngram_nats

    tok = WordTokenizer.fit([TRAIN], min_count=4, split="whitespace")    # zebra, quagga, okapi (3 each): <unk>
    model = fit_text(TRAIN, tok, order=3, blank=True)
    speller = fit_speller(TRAIN)
    seen = word_ngram_nats(model, tok, "the cat sat on a dog\n", speller)
    assert seen["oov"] == 0 and seen["nats"] == pytest.approx(seen["nats_unk_cheap"])
    text = "the zebra sat on the okapi\n"
    r = word_ngram_nats(model, tok, text, speller)
    assert r["oov"] == 2
    assert r["nats"] == pytest.approx(r["nats_unk_cheap"] + spell_nats(speller, ["zebra", "okapi"]).sum())
    # a longer unseen word costs more than a shorter one, whatever <unk> alone would claim
    longer = word_ngram_nats(model, tok, "the zebrazebrazebra sat on the okapi\n", speller)
    assert longer["nats"] > r["nats"] and longer["nats_unk_cheap"] == pytest.approx(r["nats_unk_cheap"])


def test_bits_per_byte_counts_utf8_bytes_and_word_events():
    from seqgen.ladder.text import finish, word_events

    text = "café au lait\nnaïve\n"
    assert word_events(text) == 4 + 2          # four words, two ends of line
    row = finish({}, 10 * math.log(2), text)
    assert row["bytes"] == len(text.encode("utf-8")) == len(text) + 2
    assert row["bits_per_byte"] == pytest.approx(10 / row["bytes"])
    assert row["word_ppl"] == pytest.approx(2 ** (10 / 6))


@pytest.mark.timeout(1500)   # a few minutes on an idle 2-core machine; more under load
def test_text_ladder_quick_end_to_end(tmp_path):
    """--quick --only text on a small word corpus: every rung and hybrid in bits per byte, the table,
    the claims and the plot; a rerun of one rung keeps the other rows."""
    words = ("the king and the queen went to the city and the people of the land were glad "
             "in the morning the sun rose over the hills and the river ran to the sea ").split()
    rng = np.random.default_rng(0)
    files = []
    for split, lines in (("train", 600), ("valid", 60), ("test", 60)):
        p = tmp_path / f"{split}.txt"
        starts = rng.integers(0, len(words) - 14, lines)   # windows of one sentence: strong word order
        body = [" ".join(words[s:s + rng.integers(4, 14)]) for s in starts]
        if split != "train":
            body += ["the quixotic zephyr", "xylophones of the king"]   # words never seen in train
        p.write_text("\n".join(body) + "\n", encoding="utf-8")
        files.append(str(p))
    out = tmp_path / "results"
    common = ["scripts/ladder.py", "--quick", "--only", "text", "--text-files", ",".join(files),
              "--out-root", str(tmp_path / "runs"), "--data-root", str(tmp_path / "data"), "--out", str(out)]
    res = run_script(common, timeout=1400)
    rows = {r["key"].split("/")[-1]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert set(rows) == {f"text_{k}" for k in ("unigram", "kn3", "kn5", "kn5_bpe", "infgram", "gpt", "word2vec",
                                               "gpt_words", "gpt_w2v", "infgram+kn5_bpe", "gpt+infgram", "gpt+kn5")}
    scored = {k: r for k, r in rows.items() if "bits_per_byte" in r}
    assert set(rows) - set(scored) == {"text_infgram", "text_word2vec"}   # no probability of their own
    for k, r in scored.items():
        assert math.isfinite(r["bits_per_byte"]) and 0 < r["bits_per_byte"] < 16, k
        assert r["word_ppl"] > 1, k
    for k in ("text_unigram", "text_kn3", "text_kn5"):   # the unseen test words are spelled out, not free
        assert rows[k]["oov"] > 0 and rows[k]["bits_per_byte"] > rows[k]["bits_per_byte_unk_cheap"]
    assert rows["text_unigram"]["bits_per_byte"] > rows["text_kn3"]["bits_per_byte"]
    assert rows["text_gpt_words"]["oov"] > 0
    assert rows["text_infgram"]["agreement"] > 0 and rows["text_gpt+infgram"]["lambda"]
    assert all(rows[k].get("cpu_seconds") is not None for k in ("text_unigram", "text_gpt"))
    md = (out / "results.md").read_text()
    assert "Text ladder on wordmix" in md and "What the lecture predicts" in md and "<unk> cheap" in md
    assert "below KN-5" in md and "Counts and the network together" in md
    assert (out / "ladder_wordmix.png").stat().st_size > 1000
    assert '"ladder": "quick"' in res.stdout.strip().splitlines()[-1]
    again = run_script([*common, "--rungs", "kn3"])
    assert "training" not in again.stdout and again.stdout.count("finished checkpoint found") == 1
    keys = [r["key"] for r in json.loads((out / "results.json").read_text())["rows"]]
    assert sorted(k.split("/")[-1] for k in keys) == sorted(rows)


def test_the_network_claim_takes_the_best_gpt_within_the_hour_and_word2vec_is_not_an_lm():
    from seqgen.ladder.text_report import text_claims, text_markdown

    def row(key, bpb, cpu, name="gpt", **kw):
        return {"key": f"ladder/wordmix_{key}", "corpus": "text", "label": key, "model_name": name,
                "bits_per_byte": bpb, "cpu_seconds": cpu, "train_seconds": cpu / 2, "command": "c", **kw}
    rows = [row("kn5", 1.80, 6, "ngram", baseline=True), row("gpt", 2.00, 1000), row("gpt_words", 1.70, 3000),
            row("gpt_long", 1.50, 7200)]   # the best figure, but two CPU hours: not the claim's GPT
    claim = next(c for c in text_claims(rows) if "Then the network" in c)
    assert "the best, gpt_words" in claim and "1.7000" in claim and "5.6% below" in claim and "not met" in claim
    rows[2]["bits_per_byte"] = 1.60
    assert "**met**" in next(c for c in text_claims(rows) if "Then the network" in c)
    w2v = {"key": "ladder/wordmix_word2vec", "corpus": "text", "label": "word2vec", "model_name": "word2vec",
           "analogy_add": 0.25, "wordsim353_spearman": 0.5, "simlex999_spearman": 0.2, "cpu_seconds": 40,
           "train_seconds": 20, "command": "c"}
    line = next(ln for ln in text_markdown([*rows, w2v], []) if ln.startswith("| word2vec"))
    assert "analogies 0.250" in line and "no next-word probability" in line and "p = 0" not in line
