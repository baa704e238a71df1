"""Video-texture speed: the vectorised analysis beside a straightforward per-pair numpy loop, in one run.

python scripts/bench_video.py            # 300 frames at 128x128 RGB, 2,000 at 64x64, playback of 10,000
python scripts/bench_video.py --quick    # fewer repetitions and smaller loop subsets (about a minute)

Analysis = all-pair distances + dynamics filter + future costs to convergence + pruned P, on the
generated pendulum. The loop version computes each D(i, j) and each filtered C(i, j) in a Python loop
and runs value iteration one (i, j) at a time; it is timed on subsets of the clip and extrapolated to
the full clip by its measured scaling, and its number of sweeps is counted on the full clip (vectorised
value iteration performs exactly the same sweeps). Every time is the median of its repeats.
Ends with one JSON line: {"bench": "video", ...}.
"""

import argparse
import gc
import json
import math
import resource
import time
from pathlib import Path

import numpy as np

from seqgen.bench import emit, machine, record, run_child, timeit
from seqgen.data.video.generated import pendulum
from seqgen.families.video_texture import analysis as A
from seqgen.families.video_texture.model import VideoTexture
from seqgen.families.video_texture.playback import walk

CFG = VideoTexture.Config()
TOL = 1e-6    # value iteration stops when V moves less than this (relative): a lenient choice for the loop
TARGETS = {"analysis_300": 2.0, "analysis_2000": 15.0, "playback": 0.1}   # the targets, seconds


def analyse(frames):
    """The fast path, exactly as VideoTexture.fit runs it -> (seconds per part, c, solver info, P)."""
    t = [time.perf_counter()]
    d = A.distances(frames, CFG.dtype)
    t.append(time.perf_counter())
    c, _ = A.normalise(A.dynamics_filter(d, CFG.filter_n))
    t.append(time.perf_counter())
    csr, _, info = A.chain(c, CFG.sigma, CFG.p, True, CFG.alpha, CFG.local_max, CFG.threshold)
    t.append(time.perf_counter())
    parts = {"distances_s": t[1] - t[0], "filter_s": t[2] - t[1], "future_and_p_s": t[3] - t[2]}
    return {**parts, "total_s": t[3] - t[0]}, c, info, csr


# ---- the straightforward version ---------------------------------------------------------------------

def loop_distances(x):
    m = len(x)
    d = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            d[i, j] = np.sqrt(np.sum((x[i] - x[j]) ** 2))
    return d


def loop_sweep(f, cp, alpha):
    """One value-iteration sweep, one (i, j) at a time: F[i, j] = cp[i, j] + alpha * min_k F[j, k]."""
    m = len(cp)
    mins = [f[j].min() for j in range(m)]
    new = np.empty_like(f)
    for i in range(m):
        for j in range(m):
            new[i, j] = cp[i, j] + alpha * mins[j]
    return new


def extrapolate(sizes, seconds, n):
    """Least-squares power law t = a m^b through the measurements -> (seconds at n, exponent b)."""
    b, log_a = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(math.exp(log_a) * n ** b), float(b)


def loop_on_subsets(frames, sizes) -> dict:
    """The loop version's per-part seconds on the first m frames, for each m in sizes (checked against
    the fast path's numbers)."""
    x = frames.reshape(len(frames), -1).astype(np.float64) / 255
    rec = {"distances": [], "filter": [], "sweep": []}
    for m in sizes:
        td = timeit(lambda: loop_distances(x[:m]), 1)
        d = td.result
        tf = timeit(lambda: A.dynamics_filter_reference(d, CFG.filter_n), 2)
        assert np.allclose(d, A.distances(frames[:m], "float64"), atol=1e-8)   # the same numbers as the fast path
        assert np.allclose(tf.result, A.dynamics_filter(d, CFG.filter_n))
        cp = tf.result / A.normalise(tf.result)[1]
        np.fill_diagonal(cp, np.inf)
        ts = timeit(lambda: loop_sweep(np.zeros((m, m)), cp, CFG.alpha), 5)
        for part, t in (("distances", td), ("filter", tf), ("sweep", ts)):
            rec[part].append(t.median)
    return rec


def loop_baseline(frames, c_full, sizes):
    """Per-part loop times on subsets (m frames) and their extrapolation to len(frames)."""
    n = len(frames)
    rec = loop_on_subsets(frames, sizes)
    cp = c_full.copy()
    np.fill_diagonal(cp, np.inf)
    vi = timeit(lambda: A.value_iteration(cp, CFG.alpha, tol=TOL), 1)
    sweeps = vi.result[1]
    sweep_full = timeit(lambda: loop_sweep(np.zeros((n, n)), cp, CFG.alpha), 3).median   # cheap enough at n
    est = {part: extrapolate(sizes, rec[part], n) for part in ("distances", "filter", "sweep")}
    total = est["distances"][0] + est["filter"][0] + sweeps * sweep_full
    return {"loop_distances_s": est["distances"][0], "loop_filter_s": est["filter"][0],
            "loop_sweep_s": sweep_full, "loop_sweep_extrapolated_s": est["sweep"][0],
            "value_iteration_sweeps": sweeps, "loop_total_s": total,
            "loop_scaling_exponents": {k: round(v[1], 2) for k, v in est.items()},
            "vectorised_value_iteration_s": vi.median, "loop_measured_on_frames": sizes}


# ---- the 2,000-frame run, in a fresh process so its peak memory is its own --------------------------

def _status_mb(key: str) -> float | None:
    """VmRSS / VmHWM of this process in MB (Linux), else None."""
    try:
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith(key))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def big_child(n, size):
    frames = pendulum(n, size)["frames"]      # (n, size, size, 3) uint8; its float64 rendering is freed
    gc.collect()
    try:                                      # reset the high-water mark, so the peak is the analysis's own
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    base = _status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parts, _, info, _ = analyse(frames)
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**parts, "iterations": info["iterations"], "rss_before_mb": base,
                      "peak_rss_mb": peak, "analysis_rss_mb": peak - base, "clip_mb": frames.nbytes / 2 ** 20}))


def analysis_300(res: dict, reps: int, sizes) -> object:
    """300 frames at 128 x 128 RGB, fast path and loop version -> the transition matrix P."""
    frames = pendulum(300, 128)["frames"]
    analyse(frames[:20])   # warm-up (first matmul, allocations) before the timed runs
    t = timeit(lambda: analyse(frames), reps)
    parts, c300, info, csr = t.result
    med = record(res, "analysis_300x128_s", t)
    res.update({"analysis_300x128_parts": {k: round(v, 4) for k, v in parts.items()},
                "policy_iterations": info["iterations"], "target_300_s": TARGETS["analysis_300"]})
    print(f"analysis, 300 frames of 128x128x3: {med:.2f} s (median of {reps}, {t.low:.2f}-{t.high:.2f}; last run: "
          f"distances {parts['distances_s']:.2f}, filter {parts['filter_s']:.2f}, future costs + P "
          f"{parts['future_and_p_s']:.2f}, {info['iterations']} policy iterations)", flush=True)
    base = loop_baseline(frames, c300, sizes)
    res.update(base)
    res["speedup_vs_loop"] = base["loop_total_s"] / med
    print(f"per-pair loop version: distances {base['loop_distances_s']:.1f} s and filter {base['loop_filter_s']:.1f} s "
          f"(extrapolated from {sizes} frames), value iteration {base['value_iteration_sweeps']} sweeps (to {TOL:g}) "
          f"x {base['loop_sweep_s']:.3f} s (timed at 300) = "
          f"{base['value_iteration_sweeps'] * base['loop_sweep_s']:.0f} s; total {base['loop_total_s']:.0f} s -> "
          f"{res['speedup_vs_loop']:.0f}x slower; vectorised value iteration alone: "
          f"{base['vectorised_value_iteration_s']:.2f} s", flush=True)
    return csr


def analysis_2000(res: dict) -> dict:
    big = run_child("video", "--big-child", "2000", "64")
    res.update({"analysis_2000x64_s": big["total_s"], "analysis_2000x64_parts":
                {k: round(big[k], 3) for k in ("distances_s", "filter_s", "future_and_p_s")},
                "analysis_2000x64_rss_mb": round(big["analysis_rss_mb"], 1),
                "peak_rss_2000x64_mb": round(big["peak_rss_mb"], 1), "target_2000_s": TARGETS["analysis_2000"]})
    print(f"analysis, 2,000 frames of 64x64x3: {big['total_s']:.2f} s ({big['iterations']} policy iterations), "
          f"peak RSS {big['peak_rss_mb']:.0f} MB, of which {big['analysis_rss_mb']:.0f} MB for the analysis "
          f"(the clip itself: {big['clip_mb']:.0f} MB of uint8)", flush=True)
    return big


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big-child", nargs=2, type=int, help=argparse.SUPPRESS)
    return ap


def main(argv=None) -> dict | None:
    args = parser().parse_args(argv)
    if args.big_child:
        return big_child(*args.big_child)
    reps = 2 if args.quick else 5
    res = {"bench": "video", **machine(probe_bf16=False), "quick": args.quick}   # float32 / float64 only
    print(f"CPU: {res['cpu']} ({res['cpu_capability']}, {res['threads']} torch threads, torch {res['torch']})",
          flush=True)
    csr = analysis_300(res, reps, [20, 40, 60] if args.quick else [40, 80, 120])
    big = analysis_2000(res)
    play = timeit(lambda seed: walk(csr, 10000, seed), over=range(reps))   # a new seed each repeat
    record(res, "playback_10000_s", play)
    res["target_playback_s"] = TARGETS["playback"]
    print(f"playback of 10,000 frames: {res['playback_10000_s'] * 1000:.1f} ms (median of {reps})", flush=True)
    res["met"] = {"analysis_300": res["analysis_300x128_s"] <= TARGETS["analysis_300"],
                  "analysis_2000": big["total_s"] <= TARGETS["analysis_2000"],
                  "playback": res["playback_10000_s"] <= TARGETS["playback"]}
    emit(res, digits=4)
    return res


if __name__ == "__main__":
    main()
