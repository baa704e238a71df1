"""Every bench script: a thin wrapper of a seqgen.bench module whose parser takes its documented modes,
and whose --quick plan runs end to end on tiny inputs (the long ones marked slow); the bench library's
timing helper, JSON line and anchor table."""

import argparse
import importlib
import importlib.util
import json
import re
import time
from pathlib import Path

import pytest
import torch

from seqgen import compose, train
from seqgen.bench import Timing, anchors, emit, gpt, record, record_rate, text2pixel, timeit
from tests.conftest import ROOT

SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("bench_*.py")) + ["gpu_check.py"]
FIRST_MODE = {"gpu_check.py": ["--plan"]}   # every other bench has --quick


def bench_of(script: Path):
    """Import a bench script as its own module (not run) -> the seqgen.bench module it wraps. Fails on a
    script that is more than a wrapper, or on a bench module without parser() and main()."""
    spec = importlib.util.spec_from_file_location(f"_script_{script.stem}", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)            # `if __name__ == "__main__"` keeps main() from running
    source = script.read_text()
    assert len(source.splitlines()) <= 10 and "def " not in source, f"{script.name} is more than a wrapper"
    bench = next((v for v in vars(mod).values() if getattr(v, "__name__", "").startswith("seqgen.bench.")), None)
    assert bench is not None, f"{script.name} imports no seqgen.bench module"
    assert callable(getattr(bench, "parser", None)) and callable(getattr(bench, "main", None)), \
        f"{bench.__name__} has no parser() and main()"
    return bench


def check(script: Path) -> None:
    """The script wraps a bench whose parser builds, takes no flags and its first mode, renders its
    usage text and refuses an unknown flag."""
    parser = bench_of(script).parser()
    assert parser.parse_args([]) is not None
    mode = FIRST_MODE.get(script.name, ["--quick"])
    assert vars(parser.parse_args(mode))[mode[0].lstrip("-").replace("-", "_")] is True
    assert parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-such-flag"])


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_wraps_a_bench_whose_parser_takes_its_modes(script):
    check(ROOT / "scripts" / script)


def test_the_check_fails_on_a_broken_bench(tmp_path):
    fake = "import argparse\nimport types\n\nbench = types.ModuleType('seqgen.bench.fake')\nbench.main = print\n"
    cases = {"clash": (fake + "bench.parser = lambda: argparse.ArgumentParser().add_argument('-h')\n",
                       argparse.ArgumentError),                  # a parser that cannot be built
             "no_quick": (fake + "bench.parser = argparse.ArgumentParser\n", SystemExit),   # a mode it lost
             "no_parser": (fake, AssertionError),
             "fat": (fake + "bench.parser = argparse.ArgumentParser\n\n\ndef helper():\n    pass\n", AssertionError),
             "no_bench": ("import argparse\n", AssertionError)}
    for name, (source, error) in cases.items():
        (tmp_path / f"bench_{name}.py").write_text(source)
        with pytest.raises(error):
            check(tmp_path / f"bench_{name}.py")


# ---- the library ---------------------------------------------------------------------------------------

def test_timeit_reports_the_median_its_spread_and_the_last_result():
    waits = iter([0.03, 0.01, 0.05, 0.02])
    t = timeit(lambda: time.sleep(next(waits)) or "done", repeats=3, warmup=1)   # 0.03 is the warm-up
    assert isinstance(t, Timing) and t.n == 3 and t.result == "done"
    assert t.low >= 0.01 and 0.02 <= t.median < 0.05 and t.high >= 0.05 and t.low <= t.median <= t.high
    seen = []
    t = timeit(seen.append, over=[3, 1, 2])
    assert seen == [3, 1, 2] and t.n == 3
    with pytest.raises(ValueError):
        timeit(lambda: None, repeats=0)
    res = {"bench": "x"}
    assert record(res, "a_ms", Timing(0.002, 0.001, 0.004, 3, 0.002), 1e3) == 2.0
    assert res["spread"]["a_ms"] == [1.0, 4.0, 3]
    assert record_rate(res, "b_s", Timing(0.5, 0.25, 1.0, 3, 0.5), 10) == 20.0
    assert res["spread"]["b_s"] == [10.0, 40.0, 3]


def test_the_json_line_names_its_bench_and_ends_with_the_spread(capsys):
    line = emit({"bench": "x", "spread": {"a": [1.0, 2.0, 3]}, "a": 1.23456789, "nested": {"b": 2.00001}}, digits=3)
    assert capsys.readouterr().out.strip() == line
    back = json.loads(line)
    assert list(back) == ["bench", "a", "nested", "spread"] and back["a"] == 1.235 and back["nested"]["b"] == 2.0
    assert json.loads(emit({"bench": "x", "a": 1.23456789}))["a"] == 1.23456789   # unrounded unless asked
    with pytest.raises(ValueError):
        emit({"a": 1})


def test_the_anchors_come_from_the_docs_and_cover_what_the_benches_divide_by(tmp_path):
    table = anchors()
    used = set()
    for path in (ROOT / "seqgen" / "bench").glob("*.py"):
        used |= set(re.findall(r'"((?:nanogpt|kenlm|gensim|texture|text2pixel)\.[\w.]+)"', path.read_text()))
    assert used and used <= set(table), sorted(used - set(table))
    assert table["nanogpt.cpu_recipe_ms"] == 47.5 and table["kenlm.5.query_tok_s"] == 3.8e6
    for name in ("cpu_recipe_ms", "baby_fp32_ms", "sample_tok_s"):   # the names gpt.py reads by prefix
        assert f"nanogpt.{name}" in table
    for order in (3, 5):
        assert {f"kenlm.{order}.{k}" for k in ("valid", "test", "build_s", "rss_gb", "query_tok_s")} <= set(table)
    assert anchors(tmp_path / "missing.md") == {}
    (tmp_path / "a.md").write_text("| `x.y` | 1.5 | what | where |\n| not | a row |\n")
    assert anchors(tmp_path / "a.md") == {"x.y": 1.5}


# ---- the --quick plans on tiny inputs -------------------------------------------------------------------

@pytest.fixture(scope="module")
def words(tmp_path_factory) -> Path:
    """A train / valid / test.txt folder of generated word lines (a Zipf-like vocabulary of 300 words)."""
    import numpy as np

    d = tmp_path_factory.mktemp("words")
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    p = 1.0 / (np.arange(300) + 2.0)
    for split, n in (("train", 1500), ("valid", 150), ("test", 150)):
        lines = [" ".join(rng.choice(vocab, size=rng.integers(3, 12), p=p / p.sum())) for _ in range(n)]
        (d / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return d


def run_bench(name: str, *argv: str) -> dict:
    res = importlib.import_module(f"seqgen.bench.{name}").main(list(argv))
    assert res["bench"] in (name, "pretrained_load"), res
    return res


def test_pretrained_quick():
    res = run_bench("pretrained", "--quick", "--repeats", "1")
    assert res["model_folder_ms"] > 0 and res["spread"]["model_folder_ms"][2] == 1


def test_texture_quick(tmp_path):
    res = run_bench("texture", "--quick", "--size", "12", "--reps", "1", "--out", str(tmp_path), "--device", "cpu")
    assert res["identical_to_reference"] and (tmp_path / "fast_12.png").is_file()
    assert "speedup_vs_anchor_numpy" not in res          # the docs quote the naive version at 32, 64, 128 only


def test_ngram_quick(words):
    res = run_bench("ngram", "--quick", "--data", str(words), "--no-kenlm")
    assert res["o3_valid_ppl"] > 1 and abs(res["o3_valid_vs_numpy_rel"]) < 1e-9 and "o3_valid_vs_kenlm" in res


def test_infgram_quick(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_bench("infgram", "--quick", "--data", str(words), "--data-root", str(tmp_path / "data"),
                    "--queries", "10")
    assert res["count5_us"] > 0 and res["train_tokens"] > 1000
    if "tokengrams_same_count" in res:
        assert res["tokengrams_same_count"] == 10
    if "infinigram_same_count" in res:   # its two-job build doubled suffixes on files < 200 KB: one job there
        assert res["infinigram_same_count"] == res["infinigram_same_ntd"] == 10


def test_word2vec_quick(words):
    res = run_bench("word2vec", "--quick", "--data", str(words / "train.txt"), "--no-eval", "--no-gensim",
                    "--only", "sg", "--backend", "torch", "--device", "cpu")
    assert res["sg_words_s"] > 0 and res["sg_vocab"] > 10


def test_word2vec_whole_timer_reports_a_childs_own_peak():
    """--whole's timer: wall seconds and the child's VmHWM (not this process's peak, which ru_maxrss
    would carry over); a failing command is an error with its output."""
    import sys

    from seqgen.bench.word2vec import timed

    big = timed([sys.executable, "-c", "import time; b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096]); "
                 "time.sleep(0.3)"])
    small = timed([sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert big["seconds"] >= 0.3 and big["peak_rss_mb"] >= 200 > small["peak_rss_mb"]
    with pytest.raises(RuntimeError, match="exit 3"):
        timed([sys.executable, "-c", "print('boom'); raise SystemExit(3)"])


def test_data_quick(words, tmp_path):
    res = run_bench("data", "--size", "60K", "--source", str(words / "train.txt"), "--tokenizers", "char,word",
                    "--old-path", "", "--ngram-tokens", "2000", "--workdir", str(tmp_path))
    assert res["char"]["peak_rss_mb"] > 0 and res["ngram"]["identical"]


def test_upsampler_quick(tmp_path):
    res = run_bench("upsampler", "--quick", "--images", "4", "--batch", "4", "--data-root", str(tmp_path))
    assert res["seconds_per_image"] > 0 and 0 < res["bicubic_token_accuracy"] <= 1 and "model_psnr" not in res


def test_gpt_plan():
    assert gpt.plan(True, 0, False, False) == ["peak_fp32", "cpu_recipe_fp32", "cpu_recipe_rope_fp32", "sampling"]
    assert gpt.plan(False, 5, True, True) == ["peak_fp32", "peak_bf16", "cpu_recipe_fp32", "cpu_recipe_rope_fp32",
                                              "cpu_recipe_hf", "baby_fp32", "baby_hf_fp32", "baby_bf16", "curve_fp32",
                                              "curve_bf16", "baby_sampling", "sampling"]


@pytest.mark.slow
def test_gpt_step_and_sampling_parts():
    t, losses = gpt.time_ours("cpu_recipe", 2, 1)
    assert t.n == 2 and len(losses) == 3
    samp = gpt.bench_sampling(1, 80, nanogpt_tok_s=386.0)
    assert samp["greedy_identical"] and samp["sampled_identical"] and samp["vs_nanogpt"] > 0


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory) -> dict:
    """A text2pixel and an upsampler checkpoint on the same generated shapes, a few tiny steps each."""
    root = tmp_path_factory.mktemp("img")
    small = ["trainer.max_steps=2", "trainer.eval_every=2", "trainer.ckpt_every=2", "trainer.sample_every=1000",
             "trainer.batch_size=2", "model.n_layer=1", "model.n_embd=32", "model.n_head=2", "data.n_train=40",
             "data.n_valid=2", "data.n_test=3", "logger=none", f"out_root={root}", f"data_root={root / 'data'}"]
    train(compose(["experiment=text2pixel_shapes", "run_name=t2p", "text2pixel.eval_images=2",
                   "text2pixel.fidelity_images=0", "text2pixel.sample_images=1", *small]))
    train(compose(["experiment=upsampler_shapes", "run_name=up", "upsampler.eval_images=2",
                   "upsampler.sample_images=1", *small]))
    return {"t2p": str(root / "t2p/checkpoints/last.pt"), "up": str(root / "up/checkpoints/last.pt"), "root": root}


def test_upsampler_checkpoint_all_decodes_and_the_pipeline(image_runs, tmp_path):
    res = run_bench("upsampler", "--quick", "--ckpt", image_runs["up"], "--images", "3", "--batch", "4",
                    "--all-decodes", "--text2pixel", image_runs["t2p"], "--guidance", "2",
                    "--figure", str(tmp_path / "up.png"))
    others = {"sample", "greedy", "mee"} - {res["decode"]} - ({"mee"} if res["arch"] == "blocks" else set())
    assert {"model_psnr", "nearest_psnr", "bicubic_psnr", *(f"model_{d}_psnr" for d in others)} <= set(res)
    assert res["bits_per_token"] > 0 and res["pipeline_images"] == 3 and res["pipeline_guidance"] == 2.0
    assert res["pipeline_roughness_ratio"] > 0 and (tmp_path / "up.png").is_file()


def test_text2pixel_checkpoint_quality_and_sweep(image_runs):
    res = run_bench("text2pixel", "--ckpt", image_runs["t2p"], "--skip-speed", "--images", "2", "--scales", "3")
    assert res["dataset"] == "shapes" and res["test_bits_per_pixel"] > 0 and "test_bits_vs_baseline" in res
    assert {"noguide_mean", "g3_mean"} <= set(res) and res["best_guidance"] == 3.0
    assert res["guidance_gain"] == res["g3_mean"] - res["noguide_mean"]


@pytest.mark.slow
def test_text2pixel_figure(image_runs, tmp_path):
    res = text2pixel.figure(image_runs["t2p"], tmp_path / "t2p.png", torch.device("cpu"), rows=8, samples=2)
    run = torch.load(image_runs["t2p"], weights_only=True)["config"]["text2pixel"]["guidance"]
    assert res["figure_guidance"] == run and (tmp_path / "t2p.png").is_file()   # the run's own guidance, 3 rows


def test_visual_prompt_speed_quick():
    res = run_bench("visual_prompt", "--speed", "--quick", "--set", "model.n_layer=1", "--set", "model.n_embd=32",
                    "--set", "model.n_head=2", "--set", "trainer.batch_size=2")
    assert res["speed"] and res["train_images_s"] > 0 and res["sample_answers_s_b64"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name,argv", [("gpt", ["--quick", "--no-hf", "--iters", "3"]), ("video", ["--quick"]),
                                       ("analogy", ["--quick"]), ("demo", ["--quick", "--only", "efros,analogy"]),
                                       ("text2pixel", ["--quick", "--shapes", "p2_4x128"])])
def test_the_longer_quick_plans(name, argv):
    assert run_bench(name, *argv)["bench"] == name
