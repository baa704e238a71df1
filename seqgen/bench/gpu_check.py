"""The driver of scripts/gpu_check.sh (scripts/gpu_check.py runs its main): a plan of timed parts, run one
by one inside one time budget.

python scripts/gpu_check.py --plan                  # the parts, their budgets and commands; runs nothing
python scripts/gpu_check.py --out DIR [--t0 EPOCH] [--budget 530] [--only smoke] [--device cuda]
python scripts/gpu_check.py --device cpu --only smoke --scale 5 --budget 3000   # the smoke commands on the CPU

Parts, in order: the environment (GPU, torch, a bf16 matmul ceiling), `pytest -m gpu`, a smoke of every
registered family through the real scripts (train a few steps, sample, evaluate, train on: it must
resume), a 2-rank nccl DDP step (two GPUs) or a note, then the benchmarks with --quick: bench_gpt.py
--cuda --compile both, word2vec's torch trainer on the GPU against the numba kernel on the CPU,
bench_text2pixel.py --cuda, bench_visual_prompt.py --speed on the GPU recipe. A part starts only when
at least its min_s is left before the deadline (t0 + budget), and is stopped at its budget or at the
deadline, whichever comes first; a part not started is recorded as skipped, with the reason. Writes
gpu_check.json (every part: status, seconds, figures, the commands) and appends every command's
output to gpu_check.log, both in --out. Without CUDA (and --device cuda): one line, exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from seqgen.core.trainer import measure_matmul_flops
from seqgen.families import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
          "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n") * 40


@dataclass
class Part:
    name: str
    kind: str                 # env | tests | smoke | ddp | bench
    budget_s: float           # stopped after this long
    min_s: float              # not started with less than this left
    steps: list = field(default_factory=list)   # commands (argv lists), run in order; each must exit 0
    expect: dict = field(default_factory=dict)  # step index -> text its output must contain
    note: str = ""            # why it does nothing (a part with no steps is recorded as skipped)
    parallel: bool = False    # may run beside the parts next to it that are parallel too


def smoke_steps(family: str, device: str, work: Path, py: str) -> tuple[list, dict]:
    """train (a few steps, checkpoints), sample, evaluate, and for the families the Trainer runs, train
    on to more steps (it must resume); the fitted ones (ngram, infgram, word2vec, video_texture) refit instead."""
    out, data, corpus = work / "out", work / "data", work / "corpus.txt"
    dev = [f"trainer.device={device}"]
    text = ["data=text_files", f"data.train={corpus}", f"data.valid={corpus}", f"data.test={corpus}"]
    small_img = ["trainer=smoke", "trainer.batch_size=2", "trainer.eval_every=4", "trainer.ckpt_every=4",
                 "trainer.sample_every=4", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
                 "data.n_valid=4", "data.n_test=4"]
    train, more, sample, evaluate = {
        "gpt": (["model=gpt_tiny", "trainer=smoke", *text, *dev], ["trainer.max_steps=12"],
                ["max_new_tokens=40"], ["max_tokens=2000"]),
        "ngram": (["model=ngram", "model.order=3", "trainer=smoke", *text, "data.tokenizer=word"], [],
                  ["prompt=First", "max_new_tokens=15"], []),
        "infgram": (["model=infgram", *text, "data.tokenizer=word", "data.word_split=words"], [],
                    ["prompt=First", "max_new_tokens=15"], []),
        "word2vec": (["model=word2vec", *text, "data.tokenizer=word", "model.min_count=1", "model.vector_size=16",
                      "model.epochs=2", "model.eval_sets=false", "model.sample=0", f"model.device={device}"], [],
                     ["prompt=First", "top_k=3"], ["eval_sets=false"]),
        "text2pixel": (["experiment=text2pixel_shapes", *small_img, "trainer.max_steps=8", "data.n_train=40",
                        "text2pixel.eval_images=4", "text2pixel.fidelity_images=0", "text2pixel.sample_images=2",
                        *dev], ["trainer.max_steps=12"],
                       ["prompt=a small red circle on the left on a white background", "num_samples=2"],
                       ["images=4", "fidelity_images=2"]),
        "upsampler": (["experiment=upsampler_shapes", *small_img, "trainer.max_steps=8", "data.n_train=20",
                       "upsampler.eval_images=2", "upsampler.blocks_per_image=8", "upsampler.sample_images=2",
                       *dev], ["trainer.max_steps=12"], [f"image={work / 'low.png'}"], ["images=2"]),
        "video_texture": (["model=video_texture", "data=pendulum", "data.n_frames=120",
                           "video_texture.eval_frames=2000", "video_texture.sample_frames=20"], [],
                          ["++frames=30"], ["frames=2000", "ablations=false"]),
        "visual_prompt": (["experiment=visual_prompt_shapes", *small_img, "trainer.max_steps=8",
                           "visual_prompt.eval_sentences=4", "visual_prompt.score_sentences=1", *dev],
                          ["trainer.max_steps=12"], ["task=recolour", "shots=2"],
                          ["sentences=1", "shots=[2]", "compositions=false", "analogy=false", "canvas=false"]),
    }[family]
    common = [f"out_root={out}", f"data_root={data}", f"run_name={family}"]
    ckpt = out / family / "checkpoints" / "last.pt"
    on = [] if family in ("ngram", "infgram", "video_texture") else [f"device={device}"]   # CPU-only families
    steps = [[py, "scripts/train.py", *train, *common],
             [py, "scripts/sample.py", f"ckpt={ckpt}", *sample, *on, f"out={work}"],
             [py, "scripts/evaluate.py", f"ckpt={ckpt}", *evaluate, *on, f"data_root={data}"]]
    expect = {}
    if more:   # trainer families: on the device asked for; more steps in the same folder resume
        steps.append([py, "scripts/train.py", *train, *common, *more])
        expect = {0: f"parameters, device {device}", 3: "resuming from"}
    return steps, expect


def plan(device: str, n_gpus: int, work: Path, py: str = sys.executable) -> list[Part]:
    """Every part, in the order they run (families from seqgen.families.FAMILIES)."""
    parts = [Part("env", "env", 60, 10, [[py, "scripts/gpu_check.py", "--env", "--device", device]]),
             Part("pytest_gpu", "tests", 150, 60, [[py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                                   "--timeout=120"]])]
    for fam in FAMILIES:
        steps, expect = smoke_steps(fam, device, work / fam, py)
        parts.append(Part(f"smoke_{fam}", "smoke", 120, 30, steps, expect, parallel=True))
    ddp = Part("ddp_nccl", "ddp", 90, 40)
    if device == "cpu":
        ddp.note = "--device cpu: the nccl DDP step needs CUDA"
    elif n_gpus >= 2:
        gpt = smoke_steps("gpt", "cuda", work / "ddp", py)[0][0]   # the gpt smoke's training, in its own folder
        ddp.steps = [[py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *gpt[1:]]]
        ddp.expect = {0: "step 8/8"}
    else:
        ddp.note = (f"{n_gpus} GPU: a 2-rank nccl DDP step needs two GPUs (NCCL refuses two ranks on one GPU); "
                    "the DDP path is tested on 2 CPU processes (gloo) by the default suite")
    parts.append(ddp)
    benches = [Part("bench_gpt", "bench", 170, 60,
                    [[py, "scripts/bench_gpt.py", "--cuda", "--quick", "--compile", "both"]]),
               Part("bench_word2vec", "bench", 100, 40,
                    [[py, "scripts/bench_word2vec.py", "--data", str(work / "w2v.txt"), "--quick", "--no-gensim",
                      "--no-eval", "--only", "sg", "--backend", b, "--device", d]
                     for b, d in (("torch", "cuda"), ("numba", "cpu"))]),
               Part("bench_text2pixel", "bench", 100, 40, [[py, "scripts/bench_text2pixel.py", "--cuda", "--quick"]]),
               Part("bench_visual_prompt", "bench", 100, 40,
                    [[py, "scripts/bench_visual_prompt.py", "--speed", "--quick", "--device", "cuda",
                      "--experiment", e] for e in ("visual_prompt_shapes32_gpu", "visual_prompt_shapes")])]
    for b in benches:
        if device == "cpu":
            b.steps, b.note = [], "--device cpu: the GPU benchmarks need CUDA"
    return parts + benches


class Clock:
    def now(self) -> float:
        return time.time()


def run_plan(parts: list[Part], deadline: float, runner, clock=None, jobs: int = 1) -> list[dict]:
    """Run the parts in order within the deadline -> one record per part, in plan order.
    runner(part, timeout) -> dict(status, seconds, ...) does the work. A part starts only with at least
    part.min_s left and gets min(part.budget_s, time left), both read when it starts; neighbouring
    parallel parts run `jobs` at a time."""
    clock = clock or Clock()

    def one(p: Part) -> dict:
        rec = {"part": p.name, "kind": p.kind}
        if not p.steps:
            return {**rec, "status": "skipped", "note": p.note}
        left = deadline - clock.now()
        if left < p.min_s:
            return {**rec, "status": "skipped",
                    "note": f"budget: {max(left, 0):.0f} s left, the part needs at least {p.min_s:.0f} s"}
        return {**rec, **runner(p, min(p.budget_s, left))}

    records, i = [], 0
    while i < len(parts):
        j = i + 1
        while jobs > 1 and parts[i].parallel and j < len(parts) and parts[j].parallel:
            j += 1
        with ThreadPoolExecutor(min(jobs, j - i)) as pool:
            records += list(pool.map(one, parts[i:j]))
        i = j
    return records


def last_json(text: str) -> dict:
    """The last line of text that is a JSON object (every bench script ends with one)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}


def figures_of(part: Part, outputs: list[str]) -> dict:
    if part.kind == "tests":
        found = re.findall(r"(\d+) (passed|failed|skipped|deselected|error)", outputs[-1])
        return {k: int(n) for n, k in found}
    if part.kind == "bench":
        if part.name == "bench_word2vec" and len(outputs) == 2:
            gpu, cpu = last_json(outputs[0]), last_json(outputs[1])
            out = {"torch_cuda_words_s": gpu.get("sg_words_s"), "numba_cpu_words_s": cpu.get("sg_words_s"),
                   "lines": gpu.get("lines")}
            if out["torch_cuda_words_s"] and out["numba_cpu_words_s"]:
                out["cuda_vs_numba"] = out["torch_cuda_words_s"] / out["numba_cpu_words_s"]
            return out
        if len(outputs) > 1:
            return {f"run{k}": last_json(o) for k, o in enumerate(outputs)}
        return last_json(outputs[-1])
    if part.kind == "env":
        return last_json(outputs[-1])
    if part.kind == "smoke" and len(outputs) >= 3:    # evaluate.py's JSON line: the tiny model's figures
        return {k: v for k, v in last_json(outputs[2]).items() if isinstance(v, (int, float))}
    return {}


def make_runner(log: Path, env: dict):
    """runner(part, timeout): the part's commands one after another, outputs appended to log."""
    def runner(part: Part, timeout: float) -> dict:
        t0, outputs, steps_s = time.monotonic(), [], []
        for k, argv in enumerate(part.steps):
            left, t1 = timeout - (time.monotonic() - t0), time.monotonic()
            try:
                res = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(left, 1))
                text, rc = res.stdout + res.stderr, res.returncode
            except subprocess.TimeoutExpired as e:
                text, rc = _text(e.stdout) + _text(e.stderr), None
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"\n===== {part.name} step {k}: {' '.join(map(str, argv))}\n{text}\n===== rc {rc}\n")
            outputs.append(text)
            steps_s.append(round(time.monotonic() - t1, 1))
            seconds = round(time.monotonic() - t0, 1)
            if rc is None:
                return {"status": "timeout", "seconds": seconds, "steps_s": steps_s, "failed_step": k,
                        "note": f"stopped at its {timeout:.0f} s budget", "figures": figures_of(part, outputs)}
            if rc != 0 or (k in part.expect and part.expect[k] not in text):
                why = f"exit {rc}" if rc else f"no '{part.expect[k]}' in its output"
                tail = "\n".join(text.strip().splitlines()[-3:])
                return {"status": "failed", "seconds": seconds, "steps_s": steps_s, "failed_step": k,
                        "note": f"{why}: {tail}",
                        "figures": figures_of(part, outputs)}
        return {"status": "ok", "seconds": round(time.monotonic() - t0, 1), "steps_s": steps_s,
                "figures": figures_of(part, outputs)}
    return runner


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def environment(device: str) -> dict:
    """The machine, torch, the GPUs and a bf16 matmul ceiling (the MFU denominator of the benches)."""
    out = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
           "cpu_threads": torch.get_num_threads()}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        out.update(gpus=torch.cuda.device_count(), gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   sm=p.multi_processor_count, bf16=torch.cuda.is_bf16_supported(),
                   flash_sdpa=torch.backends.cuda.flash_sdp_enabled(),
                   matmul_bf16_tflops=measure_matmul_flops(torch.device("cuda"), torch.bfloat16, 8192, 10) / 1e12)
    return out


def write_corpora(work: Path, w2v: bool = True):
    """The smoke's folders, tiny text and upsampler input; a Zipf word corpus for the word2vec speed run."""
    for sub in (*FAMILIES, "ddp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
        (work / sub / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    low = np.full((32, 32, 3), 255, np.uint8)              # the upsampler's input: a red square on white
    low[8:20, 8:20] = (220, 30, 30)
    Image.fromarray(low).save(work / "upsampler" / "low.png")
    if not w2v:
        return
    rng = np.random.default_rng(0)
    rank = np.arange(1, 30001)
    p = 1.0 / (rank + 2.7)                                  # Zipf-Mandelbrot over 30k types, like running text
    words = np.array([f"w{r}" for r in rank])[rng.choice(30000, size=5_000_000, p=p / p.sum())]
    lines = (" ".join(line) for line in words.reshape(-1, 25))   # 5M tokens; --quick trains on 1M of them
    (work / "w2v.txt").write_text("\n".join(lines))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", action="store_true", help="print the parts and their budgets; run nothing")
    ap.add_argument("--out", default=os.environ.get("OUT") or "outputs/gpu_check")
    ap.add_argument("--t0", type=float, default=None, help="epoch seconds the budget counts from (default: now)")
    ap.add_argument("--budget", type=float, default=530.0, help="seconds from t0 until the deadline")
    ap.add_argument("--only", default=None, help="run only the parts whose names contain this")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: the smoke commands on the CPU")
    ap.add_argument("--jobs", type=int, default=4, help="smoke parts run this many at a time")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every part's budget (slow CPU dry runs)")
    ap.add_argument("--env", action="store_true", help=argparse.SUPPRESS)
    return ap


def print_plan(args, n_gpus: int) -> None:
    parts = [p for p in plan(args.device, n_gpus, Path("<work>")) if not args.only or args.only in p.name]
    print(f"gpu_check plan ({len(parts)} parts, deadline {args.budget:.0f} s after the start):")
    for p in parts:
        what = p.note if not p.steps else " && ".join(" ".join(map(str, s[1:])) for s in p.steps)
        print(f"  {p.name:<22} {p.kind:<6} budget {p.budget_s:>4.0f} s, needs {p.min_s:>3.0f} s  {what}")


def run_check(args, n_gpus: int, t0: float) -> dict:
    """Every part of the plan within the deadline -> the gpu_check.json record (written to --out)."""
    work = Path(tempfile.mkdtemp(prefix="seqgen_gpu_check_"))
    parts = [p for p in plan(args.device, n_gpus, work) if not args.only or args.only in p.name]
    for p in parts:
        p.budget_s, p.min_s = p.budget_s * args.scale, p.min_s * args.scale
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_corpora(work, w2v=any(p.name == "bench_word2vec" and p.steps for p in parts))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    base = make_runner(out / "gpu_check.log", env)

    def runner(part, timeout):
        r = base(part, timeout)
        print(f"[gpu_check] {part.name}: {r['status']} in {r['seconds']:.0f} s"
              + (f" ({r['note'][:200]})" if r.get("note") else ""), flush=True)
        return r

    records = run_plan(parts, t0 + args.budget - 10, runner, jobs=args.jobs)   # 10 s to write the results
    for r in records:
        if r["status"] == "skipped":
            print(f"[gpu_check] {r['part']}: skipped ({r['note']})", flush=True)
    result = {"gpu_check": True, "device": args.device, "seconds": round(time.time() - t0, 1),
              "budget_s": args.budget, "parts": records,
              "commands": {p.name: [" ".join(map(str, s[1:])) for s in p.steps] for p in parts}}
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    if args.env:
        print(json.dumps(environment(args.device)))
        return
    t0 = args.t0 or time.time()
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if args.plan:
        return print_plan(args, n_gpus)
    if args.device == "cuda" and not n_gpus:
        print(f"gpu_check: no CUDA device (torch {torch.__version__} sees none): nothing measured")
        return
    result = run_check(args, n_gpus, t0)
    counts = {s: sum(r["status"] == s for r in result["parts"]) for s in ("ok", "failed", "timeout", "skipped")}
    print(f"[gpu_check] done in {result['seconds']:.0f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f"; figures in {Path(args.out) / 'gpu_check.json'}, log {Path(args.out) / 'gpu_check.log'}", flush=True)
    sys.exit(1 if counts["failed"] or counts["timeout"] else 0)

if __name__ == "__main__":
    main()
