"""The bench library: one way to time a call (the median over repeats, with its spread), the machine
record every figure names, and the one JSON line every bench ends with.

Each module in this package is one bench (`seqgen.bench.gpt`, ...) with `parser()` and `main(argv)`;
`scripts/bench_<name>.py` only calls its main. Anchor figures (nanoGPT, KenLM, gensim, ...) are not
kept in code: docs/benchmarks.md quotes them, and a bench takes them as an argument whose default is
the documented value.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from seqgen import families
from seqgen.app.load import load_model
from seqgen.core.precision import machine
from seqgen.data.images.prepare import prepare_images

__all__ = ["Timing", "timeit", "record", "record_rate", "emit", "announce", "machine", "versions", "run_child",
           "anchors",
           "checkpoint_images"]


@dataclass(frozen=True)
class Timing:
    """Wall seconds of the timed repeats of one call: the median (the figure every bench reports), the
    fastest and slowest repeat (its spread on a shared, noisy machine), and the median CPU seconds of
    this process (all its threads), which other jobs on the machine do not inflate."""

    median: float
    low: float
    high: float
    n: int
    cpu: float
    result: object = field(default=None, repr=False, compare=False)   # the last call's return value

    def spread(self, scale: float = 1.0) -> list:
        return [round(self.low * scale, 6), round(self.high * scale, 6), self.n]


def timeit(fn, repeats: int = 3, warmup: int = 0, over=None, device=None) -> Timing:
    """Call fn() `warmup` times untimed, then `repeats` times timed; with `over` (a sequence), call fn(x)
    once per item instead (latency over a set of queries). device: a CUDA device is synchronised after
    every call, so that the time is the call's and not its launch's."""
    cuda = device is not None and torch.device(device).type == "cuda"
    calls = [(x,) for x in over] if over is not None else [()] * repeats
    out = None
    for _ in range(warmup):
        out = fn(*calls[0]) if calls else fn()
    walls, cpus = [], []
    for args in calls:
        c = time.process_time()          # read first: a process-clock read is a system call, kept out of the wall time
        t = time.perf_counter()
        out = fn(*args)
        if cuda:
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if not walls:
        raise ValueError("timeit: nothing timed (repeats=0 or an empty `over`)")
    return Timing(statistics.median(walls), min(walls), max(walls), len(walls), statistics.median(cpus), out)


def record(res: dict, key: str, t: Timing, scale: float = 1.0) -> float:
    """res[key] = the median (times scale: 1e3 for ms), its spread under res["spread"][key] -> the figure."""
    res[key] = t.median * scale
    res.setdefault("spread", {})[key] = t.spread(scale)
    return res[key]


def record_rate(res: dict, key: str, t: Timing, amount: float) -> float:
    """res[key] = amount per second at the median time (images/s, tokens/s), its spread (slowest and
    fastest repeat's rate) under res["spread"][key] -> the figure."""
    res[key] = amount / t.median
    res.setdefault("spread", {})[key] = [round(amount / t.high, 6), round(amount / t.low, 6), t.n]
    return res[key]


def _round(v, digits: int | None):
    if digits is None:
        return v
    if isinstance(v, float):
        return round(v, digits)
    if isinstance(v, dict):
        return {k: _round(x, digits) for k, x in v.items()}
    return v


def emit(res: dict, digits: int | None = None) -> str:
    """Print the bench's one JSON line ({"bench": name, ...}, the spread last; floats rounded to `digits`
    places where a bench asks) and return it."""
    if "bench" not in res:
        raise ValueError("a bench's JSON line starts with its name: {'bench': ...}")
    res = {k: v for k, v in res.items() if k != "spread"} | ({"spread": res["spread"]} if "spread" in res else {})
    line = json.dumps(_round(res, digits))
    print(line, flush=True)
    return line


def announce(mach: dict, extra: str = "") -> None:
    """The first line every bench prints: the machine its figures come from."""
    print("machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()) + (f"; {extra}" if extra else ""), flush=True)


def versions(*packages: str) -> dict:
    """Installed versions of the anchors' packages (None where one is not installed)."""
    out = {}
    for p in packages:
        try:
            out[p.replace("-", "_")] = version(p)
        except PackageNotFoundError:
            out[p.replace("-", "_")] = None
    return out


def run_child(module: str, *args: str, timeout: float | None = None, **kw) -> dict:
    """Run `python -m seqgen.bench.<module> ...` in a fresh process (its own peak memory, or an engine
    that may abort the interpreter) -> the JSON object of its last output line."""
    root = str(Path(__file__).resolve().parents[2])   # the child imports this checkout's seqgen
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-m", f"seqgen.bench.{module}", *args], capture_output=True, text=True,
                         timeout=timeout, env=env, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"seqgen.bench.{module} {' '.join(args)} failed (exit {res.returncode}): "
                           f"{res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
_ANCHOR_ROW = re.compile(r"^\|\s*`([\w.]+)`\s*\|\s*([-+0-9.eE]+)\s*\|")


def anchors(path=None) -> dict[str, float]:
    """The anchor figures docs/benchmarks.md quotes ("Anchor figures": rows of | `name` | value | ...),
    read where the benches divide by them; {} with a note when the file is not there (then the ratios
    are left out and only our figures are printed)."""
    path = Path(path or DOCS)
    if not path.is_file():
        print(f"(no anchor table: {path} not found; ratios to the anchors are left out)", flush=True)
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ANCHOR_ROW.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def checkpoint_images(ckpt, device):
    """(model, tokenizer, state, prepared images) of an image checkpoint: the images it was trained on,
    prepared from its own data config and data_root."""
    model, tok, state = load_model(ckpt, device)
    dc = families.get(state["model_name"]).data_of(state, ckpt)
    return model, tok, state, prepare_images(dc, state["config"]["data_root"], verbose=False)
