"""Compute precision, decided once: trainer.precision -> a dtype, autocast, and whether this CPU has
bf16 matrix instructions at all.

CPUs differ far more than their flags suggest: an AMD EPYC with avx512_bf16 runs a bf16 matmul ~2x
faster than fp32, an Intel Xeon with AVX-512 but no bf16 units somewhat slower, and an AVX2-only CPU
(most laptops) ~100x slower, since bf16 is then emulated element by element. So `cpu_bf16()` times
a 256x256 matmul in both dtypes once per process (milliseconds; ~0.2 s where bf16 is emulated) beside
torch's reported CPU capability, and bf16 on a CPU where it is slower than fp32 falls back to fp32 with a warning unless
asked for with `trainer.precision=bf16!`.
"""

from __future__ import annotations

import functools
import os
import platform
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from seqgen.core.errors import ConfigError

# bf16 counts as supported when a bf16 matmul takes at most this many times the fp32 one
BF16_MAX_SLOWDOWN = 1.5
PROBE_N = 256            # 128 is too small to see bf16 units (both dtypes are overhead-bound there)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CpuBf16:
    capability: str      # torch.backends.cpu.get_cpu_capability(): AVX512, AVX2, DEFAULT, ...
    slowdown: float      # bf16 matmul time / fp32 matmul time (< 1: bf16 is faster)
    supported: bool      # slowdown <= BF16_MAX_SLOWDOWN
    source: str          # "probe", or "SEQGEN_CPU_BF16" when the environment decided

    def describe(self) -> str:
        if self.source != "probe":
            return f"CPU capability {self.capability}, bf16 {'on' if self.supported else 'off'} by SEQGEN_CPU_BF16"
        speed = f"{1 / self.slowdown:.1f}x faster" if self.slowdown < 1 else f"{self.slowdown:.1f}x slower"
        return f"CPU capability {self.capability}, a bf16 matmul {speed} than fp32"


def _probe(n: int = PROBE_N, rounds: int = 7) -> tuple[float, float]:
    """Fastest fp32 and bf16 n x n matmul seconds, measured in alternation so that a busy machine
    slows both alike; stops early once bf16 is clearly emulated (~25 ms a matmul on AVX2)."""
    g = torch.Generator().manual_seed(0)   # never the global RNG: a resumed run's stream stays exact
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    pairs = {torch.float32: (a, b), torch.bfloat16: (a.bfloat16(), b.bfloat16())}
    best = {dt: float("inf") for dt in pairs}
    for dt, (x, y) in pairs.items():   # warm up kernels and caches
        x @ y
    for _ in range(rounds):
        for dt, (x, y) in pairs.items():
            t = time.perf_counter()
            x @ y
            best[dt] = min(best[dt], time.perf_counter() - t)
        if best[torch.bfloat16] > 20 * best[torch.float32]:
            break
    return best[torch.float32], best[torch.bfloat16]


@functools.lru_cache(maxsize=None)
def cpu_bf16() -> CpuBf16:
    """Whether this CPU runs bf16 matmuls at least about as fast as fp32; measured once per process.
    SEQGEN_CPU_BF16=1 / 0 skips the probe (for machines you know, and for tests)."""
    capability = torch.backends.cpu.get_cpu_capability()
    forced = os.environ.get("SEQGEN_CPU_BF16")
    if forced in ("0", "1"):
        return CpuBf16(capability, 0.5 if forced == "1" else float("inf"), forced == "1", "SEQGEN_CPU_BF16")
    t32, t16 = _probe()
    slowdown = t16 / max(t32, 1e-9)
    return CpuBf16(capability, slowdown, slowdown <= BF16_MAX_SLOWDOWN, "probe")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """auto: bf16 autocast on CUDA (if supported), fp32 on CPU; fp32 / bf16 / fp16 on request.
    bf16 on a CPU without fast bf16 matmuls warns and falls back to fp32; `bf16!` insists."""
    insist = precision.endswith("!")
    name = precision.rstrip("!")
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in DTYPES:
        raise ConfigError(f"trainer.precision must be one of auto, {', '.join(DTYPES)} (bf16! forces bf16 on a "
                          f"CPU without bf16 matrix instructions); got {precision!r}")
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision=fp16 needs CUDA; on CPU use bf16 or fp32")
    if name == "bf16" and device.type == "cpu" and not insist:
        caps = cpu_bf16()
        if not caps.supported:
            warnings.warn(f"trainer.precision=bf16 on a CPU without fast bf16 matrix instructions "
                          f"({caps.describe()}): training in fp32 instead. trainer.precision=bf16! forces bf16.",
                          stacklevel=2)
            print(f"[seqgen] warning: bf16 requested but {caps.describe()}; using fp32 "
                  f"(trainer.precision=bf16! forces bf16)", flush=True)
            return torch.float32
    return DTYPES[name]


def autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(probe_bf16: bool = True) -> dict:
    """What every benchmark line names: CPU, torch's capability, threads, and the bf16 verdict."""
    out = {"cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(), "torch": torch.__version__}
    if probe_bf16:
        caps = cpu_bf16()
        out.update(cpu_bf16=caps.supported,
                   cpu_bf16_slowdown=round(caps.slowdown, 3) if caps.source == "probe" else None)
    return out
