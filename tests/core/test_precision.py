"""Precision on CPUs with and without bf16 matrix instructions: one cached probe, a warned fallback,
and benchmarks that plan no bf16 step where bf16 would crawl."""


import pytest
import torch

from seqgen.core import precision as P
from seqgen.core.errors import ConfigError
from seqgen.core.trainer import measure_matmul_flops

NO_BF16 = P.CpuBf16("AVX2", 60.0, False, "probe")


def test_probe_runs_once_per_process(monkeypatch):
    calls = []

    def fake():
        calls.append(1)
        return 1e-4, 5e-5

    monkeypatch.delenv("SEQGEN_CPU_BF16", raising=False)
    monkeypatch.setattr(P, "_probe", fake)
    P.cpu_bf16.cache_clear()
    try:
        first, second = P.cpu_bf16(), P.cpu_bf16()
    finally:
        P.cpu_bf16.cache_clear()
    assert first is second and calls == [1]
    assert first.supported and first.slowdown == pytest.approx(0.5)
    assert first.capability == torch.backends.cpu.get_cpu_capability()


def test_the_real_probe_is_quick_and_sane(monkeypatch):
    import time

    monkeypatch.delenv("SEQGEN_CPU_BF16", raising=False)
    P.cpu_bf16.cache_clear()
    t = time.perf_counter()
    caps = P.cpu_bf16()
    assert time.perf_counter() - t < 2.0 and caps.slowdown > 0 and caps.source == "probe"
    P.cpu_bf16.cache_clear()


def test_bf16_without_bf16_units_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(P, "cpu_bf16", lambda: NO_BF16)
    cpu = torch.device("cpu")
    with pytest.warns(UserWarning, match=r"AVX2.*60\.0x slower.*fp32 instead.*bf16!"):
        assert P.resolve_precision("bf16", cpu) == torch.float32
    assert P.resolve_precision("bf16!", cpu) == torch.bfloat16     # the user insists
    assert P.resolve_precision("auto", cpu) == torch.float32
    monkeypatch.setattr(P, "cpu_bf16", lambda: P.CpuBf16("AVX512", 0.5, True, "probe"))
    assert P.resolve_precision("bf16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        P.resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="trainer.precision must be one of"):
        P.resolve_precision("half", cpu)


def test_environment_decides_without_probing(monkeypatch):
    monkeypatch.setattr(P, "_probe", lambda *a: pytest.fail("probed"))
    for value, supported in (("0", False), ("1", True)):
        monkeypatch.setenv("SEQGEN_CPU_BF16", value)
        P.cpu_bf16.cache_clear()
        assert P.cpu_bf16().supported is supported and "SEQGEN_CPU_BF16" in P.cpu_bf16().describe()
    P.cpu_bf16.cache_clear()


def test_bench_plan_has_no_bf16_step_without_bf16():
    from seqgen.bench import gpt as bench

    for quick in (True, False):
        steps = bench.plan(quick, curve=50, bf16=False, hf=True)
        assert steps and not [s for s in steps if "bf16" in s]
    assert "peak_bf16" in bench.plan(True, 0, bf16=True, hf=False)
    assert "baby_bf16" in bench.plan(False, 0, bf16=True, hf=False)


def test_matmul_ceiling_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    measure_matmul_flops(torch.device("cpu"), torch.float32, n=64, reps=2)
    assert torch.equal(state, torch.get_rng_state())


def test_mfu_ceiling_is_the_fastest_matmul(monkeypatch):
    """The ceiling MFU is reported against is the best the device reached, not the median of a noisy
    machine's repetitions (against a median the emoji run printed mfu 1.01)."""
    import seqgen.core.trainer as T

    ticks = iter([0.0, 4.0, 10.0, 11.0, 20.0, 24.0])   # three matmuls of 4 s, 1 s, 4 s
    monkeypatch.setattr(T.time, "perf_counter", lambda: next(ticks))
    assert T.measure_matmul_flops(torch.device("cpu"), torch.float32, n=8, reps=3) == 2 * 8**3 / 1.0


def test_mfu_ceiling_size_fills_a_gpu(monkeypatch):
    """On CUDA the ceiling is an 8192-sided matmul: at 2048 an H200 reached 358 of its 774 bf16 TFLOP/s,
    and train.py printed MFU 0.17 for a step the 8192 ceiling puts at 0.08. The default n follows it."""
    import seqgen.core.trainer as T

    assert T.ceiling_size(torch.device("cpu")) == 2048
    assert T.ceiling_size(torch.device("cuda")) == T.ceiling_size("cuda:0") == 8192
    monkeypatch.setattr(T, "ceiling_size", lambda device: 16)
    ticks = iter([0.0, 2.0])
    monkeypatch.setattr(T.time, "perf_counter", lambda: next(ticks))
    assert T.measure_matmul_flops(torch.device("cpu"), torch.float32, reps=1) == 2 * 16**3 / 2.0
