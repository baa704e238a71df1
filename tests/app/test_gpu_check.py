"""scripts/gpu_check.sh on a CPU: one line and exit 0 with nothing measured; its plan lists every family
and every benchmark; the time budget skips what no longer fits (a fake clock) and stops the rest."""

import shutil
import subprocess

import pytest

from seqgen.bench import gpu_check
from seqgen.families import FAMILIES
from tests.conftest import ROOT, run_script


def _driver():
    return gpu_check     # the driver scripts/gpu_check.py runs


def _no_gpu() -> bool:
    nvsmi = shutil.which("nvidia-smi")
    return nvsmi is None or subprocess.run([nvsmi, "-L"], capture_output=True).returncode != 0


@pytest.mark.skipif(not _no_gpu(), reason="this machine has a GPU: the script would run the check")
def test_without_cuda_one_line_and_exit_0(tmp_path):
    res = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and "no CUDA device" in res.stdout and "nothing measured" in res.stdout
    assert not list(tmp_path.iterdir())                       # nothing written
    # the driver alone says the same when torch sees no GPU
    res = run_script(["scripts/gpu_check.py", "--out", str(tmp_path)])
    assert res.stdout.strip().count("\n") == 0 and "nothing measured" in res.stdout


def test_plan_lists_every_family_and_benchmark():
    res = subprocess.run(["bash", "scripts/gpu_check.sh", "--plan"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    names = [line.split()[0] for line in res.stdout.splitlines()[1:]]
    assert names == ["env", "pytest_gpu", *[f"smoke_{f}" for f in FAMILIES], "ddp_nccl", "bench_gpt",
                     "bench_word2vec", "bench_text2pixel", "bench_visual_prompt"]
    text = res.stdout
    assert "-m pytest -m gpu" in text and "bench_gpt.py --cuda --quick --compile both" in text
    assert "--backend torch --device cuda" in text and "--backend numba --device cpu" in text
    assert "bench_text2pixel.py --cuda --quick" in text and "--speed --quick --device cuda" in text
    for f in FAMILIES:   # every family: train, sample, evaluate (+ resume for the trained ones)
        line = next(x for x in text.splitlines() if x.split()[0] == f"smoke_{f}")
        assert all(s in line for s in ("scripts/train.py", "scripts/sample.py", "scripts/evaluate.py"))


def test_smoke_commands_put_each_family_on_the_device():
    gc = _driver()
    parts = {p.name: p for p in gc.plan("cuda", 1, ROOT / "w", py="python")}
    for fam in FAMILIES:
        train = " ".join(parts[f"smoke_{fam}"].steps[0])
        cpu_only = fam in ("ngram", "infgram", "video_texture")
        assert cpu_only or "device=cuda" in train, fam
        if fam not in ("ngram", "infgram", "word2vec", "video_texture"):   # fitted families refit; the others resume
            part = parts[f"smoke_{fam}"]
            assert part.expect == {0: "parameters, device cuda", 3: "resuming from"}
            assert "trainer.max_steps=12" in part.steps[3]
    assert not parts["ddp_nccl"].steps and "two GPUs" in parts["ddp_nccl"].note
    two = {p.name: p for p in gc.plan("cuda", 2, ROOT / "w", py="python")}
    assert "--nproc_per_node=2" in two["ddp_nccl"].steps[0] and "trainer.device=cuda" in two["ddp_nccl"].steps[0]
    cpu = {p.name: p for p in gc.plan("cpu", 0, ROOT / "w", py="python")}
    assert not cpu["bench_gpt"].steps and "need CUDA" in cpu["bench_gpt"].note


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t


def test_budget_skips_what_no_longer_fits_and_caps_the_rest():
    gc = _driver()
    P = gc.Part
    parts = [P("a", "bench", budget_s=100, min_s=10, steps=[["x"]]), P("b", "bench", 100, 10, [["x"]]),
             P("empty", "ddp", 50, 5, note="one GPU"), P("c", "bench", 100, 60, [["x"]]),
             P("d", "bench", 100, 10, [["x"]])]
    clock, took, given = FakeClock(), {"a": 30, "b": 300, "c": 5, "d": 5}, {}

    def runner(part, timeout):
        given[part.name] = timeout
        clock.t += min(took[part.name], timeout)       # a part that overruns is stopped at its timeout
        return {"status": "ok" if took[part.name] <= timeout else "timeout", "seconds": min(took[part.name], timeout)}

    recs = {r["part"]: r for r in gc.run_plan(parts, deadline=180, runner=runner, clock=clock)}
    assert given["a"] == 100 and recs["a"]["status"] == "ok"
    assert given["b"] == 100 and recs["b"]["status"] == "timeout"          # its own budget stops it
    assert recs["empty"] == {"part": "empty", "kind": "ddp", "status": "skipped", "note": "one GPU"}
    assert recs["c"]["status"] == "skipped" and "50 s left" in recs["c"]["note"] and "c" not in given
    assert given["d"] == 50 and recs["d"]["status"] == "ok"                  # capped by the deadline
    assert list(recs) == ["a", "b", "empty", "c", "d"]
    clock.t = 1000                                                           # past the deadline: nothing runs
    assert all(r["status"] == "skipped" for r in gc.run_plan(parts, 180, runner, clock))


def test_parallel_parts_run_together_in_plan_order():
    gc = _driver()
    parts = [gc.Part(f"s{i}", "smoke", 10, 1, [["x"]], parallel=True) for i in range(5)] + \
        [gc.Part("after", "bench", 10, 1, [["x"]])]
    recs = gc.run_plan(parts, 1e12, lambda p, t: {"status": "ok", "seconds": 0.0}, jobs=3)
    assert [r["part"] for r in recs] == [p.name for p in parts] and all(r["status"] == "ok" for r in recs)


def test_figures_are_read_from_the_outputs():
    gc = _driver()
    tests = gc.Part("pytest_gpu", "tests", 1, 1)
    assert gc.figures_of(tests, ["....\n12 passed, 1 skipped, 900 deselected in 40.0s\n"]) == \
        {"passed": 12, "skipped": 1, "deselected": 900}
    w2v = gc.Part("bench_word2vec", "bench", 1, 1)
    figs = gc.figures_of(w2v, ['noise\n{"bench": "word2vec", "sg_words_s": 3000000.0, "lines": 10}',
                               '{"bench": "word2vec", "sg_words_s": 600000.0}'])
    assert figs["cuda_vs_numba"] == 5.0 and figs["lines"] == 10
    assert gc.figures_of(gc.Part("bench_gpt", "bench", 1, 1), ['x\n{"bench": "gpt", "gpu_baby_ms": 9.5}\n']) == \
        {"bench": "gpt", "gpu_baby_ms": 9.5}
