"""scripts/evaluate.py on every kind of checkpoint, and scripts/ladder.py --quick end to end."""

import json
import math

from tests.conftest import run_script


def test_ladder_quick_has_every_rung_with_finite_numbers(tmp_path, corpus):
    files = ",".join(corpus[s] for s in ("train", "valid", "test"))
    out = tmp_path / "results"
    res = run_script(["scripts/ladder.py", "--quick", "--only", "chars,words,pixels", "--text-files", files,
                      "--out-root", str(tmp_path / "runs"), "--data-root", str(tmp_path / "data"), "--out", str(out)],
                     timeout=900)
    rows = json.loads((out / "results.json").read_text())["rows"]
    keys = {r["key"].split("/")[-1] for r in rows}
    assert keys == {f"{c}_ngram{n}" for c in ("chars", "words") for n in (1, 2, 3, 5)} | {
        "chars_gpt_small", "chars_gpt_large", "words_word2vec", "words_gpt", "words_gpt_w2v", "text2pixel", "upsampler",
        "visual_prompt"}
    for r in rows:
        if r["corpus"] in ("chars", "words") and r["model_name"] != "word2vec":
            assert math.isfinite(r["bpc"]) and r["bpc"] > 0, r
        if r["corpus"] == "words" and "ppl" in r:
            assert math.isfinite(r["ppl"]) and r["ppl"] > 1
    t2p = next(r for r in rows if r["key"].endswith("text2pixel"))
    assert math.isfinite(t2p["bits_per_pixel"]) and math.isfinite(t2p["ngram_bits_per_pixel"])
    assert 0 <= t2p["fidelity"] <= 1
    vp = next(r for r in rows if r["key"].endswith("visual_prompt"))
    assert 0 <= vp["mean/1shot/exact"] <= 1 and 0 <= vp["mean/unchanged/pixel"] <= 1
    up = next(r for r in rows if r["key"].endswith("upsampler"))
    for k in ("bits_per_token", "model_token_accuracy", "nearest_psnr", "bicubic_consistency", "seconds_per_image"):
        assert math.isfinite(up[k]), k
    # more n-gram order never hurts much on the training-like text; unigram is far worse than 5-gram
    bpc = {r["key"].split("/")[-1]: r["bpc"] for r in rows if "bpc" in r}
    assert bpc["chars_ngram1"] > bpc["chars_ngram5"]
    md = (out / "results.md").read_text()
    assert "5-gram Kneser-Ney" in md and "bicubic" in md and "What the lecture predicts" in md
    assert "Visual prompting (held-out" in md and md.count("pixel n-gram (W, NW, N, NE; counts)") == 1
    assert (out / "ladder_bpc.png").stat().st_size > 1000 and (out / "ladder_curves.png").is_file()
    assert '"ladder": "quick"' in res.stdout.strip().splitlines()[-1]
    # a second run reuses every finished rung instead of retraining, and keeps what other benches
    # wrote below the marker
    from seqgen.ladder.report import KEEP_MARKER

    (out / "results.md").write_text(md + f"\n{KEEP_MARKER}\n## Visual prompting\nkept table\n")
    again = run_script(["scripts/ladder.py", "--quick", "--text-files", files, "--out-root", str(tmp_path / "runs"),
                        "--data-root", str(tmp_path / "data"), "--out", str(out), "--only", "chars"])
    assert "training" not in again.stdout and again.stdout.count("finished checkpoint found") == 6
    rerun = (out / "results.md").read_text()
    # --only chars re-evaluated the chars rungs and kept the other corpora's rows
    assert [r["key"] for r in json.loads((out / "results.json").read_text())["rows"]] == \
        [r["key"] for r in rows if r["corpus"] != "chars"] + [r["key"] for r in rows if r["corpus"] == "chars"]
    assert rerun.count(KEEP_MARKER) == 1 and rerun.endswith("kept table\n") and "5-gram Kneser-Ney" in rerun


def test_evaluate_script_units_and_errors(tmp_path, corpus):
    common = [f"out_root={tmp_path}", f"data_root={tmp_path / 'data'}", "data=text_files",
              *[f"data.{s}={corpus[s]}" for s in ("train", "valid", "test")]]
    run_script(["scripts/train.py", "model=ngram", "model.order=3", "model.blank_lines=true", "run_name=ng", *common])
    run_script(["scripts/train.py", "model=gpt_tiny", "trainer=smoke", "run_name=gp", *common])
    out = {}
    for name in ("ng", "gp"):
        res = run_script(["scripts/evaluate.py", f"ckpt={tmp_path / name / 'checkpoints' / 'last.pt'}",
                          f"data_root={tmp_path / 'data'}", f"out={tmp_path / name}.json"])
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
        assert out[name] == json.loads((tmp_path / f"{name}.json").read_text())
    assert out["ng"]["split"] == out["gp"]["split"] == "test"
    # both code the same test text: the character counts agree (the GPT's first token is context)
    assert abs(out["ng"]["chars"] - out["gp"]["chars"]) <= 1
    assert 0 < out["ng"]["bpc"] < out["gp"]["bpc"]      # 3-gram on repetitive text beats an 8-step GPT
    bad = run_script(["scripts/evaluate.py", f"ckpt={tmp_path / 'missing.pt'}"], check=False)
    assert bad.returncode == 2 and "no such checkpoint" in bad.stderr
    bad = run_script(["scripts/evaluate.py", f"ckpt={tmp_path / 'ng' / 'checkpoints' / 'last.pt'}",
                      f"data_root={tmp_path / 'data'}", "split=nope"], check=False)
    assert bad.returncode == 2 and "split='nope'" in bad.stderr


def test_every_full_ladder_rung_composes_and_validates():
    """The full ladder's rungs are hours of training, so CI only composes them - the way run_rung does
    (a `data.max_vocab=` on wordmix once failed at composition, an hour into a ladder run)."""
    from seqgen.app.cli import compose
    from seqgen.app.train import resolve
    from seqgen.ladder.rungs import CHAR_DATA, WORD_DATA, rung_overrides, rungs
    from seqgen.ladder.text import TEXT_DATA

    data = {"chars": CHAR_DATA, "words": WORD_DATA, "text": TEXT_DATA}
    full = rungs(False)
    assert {r.corpus for r in full} >= {"chars", "words", "text"}
    for rung in full:
        spec, fam = resolve(compose(rung_overrides(rung, data, "outputs")))
        assert spec.model_name == fam.name, rung.key
