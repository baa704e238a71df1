"""Video textures: each analysis step equals a slow reference; P is a distribution; seeded playback;
dead ends; the pendulum's direction of motion; loops that loop; control; the family end to end."""

import itertools
import json

import numpy as np
import pytest
import torch

from seqgen.core.errors import ConfigError
from seqgen.data.video import generated
from seqgen.data.video.clips import Clip
from seqgen.families.video_texture import analysis as A
from seqgen.families.video_texture import loops as L
from seqgen.families.video_texture.evaluate import quality, reversals
from seqgen.families.video_texture.model import VideoTexture
from seqgen.families.video_texture.playback import jumps, render
from tests.conftest import compose, run_script


def rand_frames(n=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 4, 5, 3), dtype=np.uint8)


def rand_costs(n=9, seed=0, infs=True):
    rng = np.random.default_rng(seed)
    c = rng.random((n, n)) * 2
    if infs:
        c[rng.random((n, n)) < 0.2] = np.inf
        c[np.arange(n), rng.integers(0, n, n)] = rng.random(n)     # every row keeps a finite entry
    return c


@pytest.fixture(scope="module")
def pendulum():
    g = generated.pendulum(300, 64)
    return Clip(g["frames"], 25.0, "pendulum", g["truth"])


# ---- analysis == references ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-3)])
def test_distances_equal_a_double_loop(dtype, tol):
    f = rand_frames()
    ref = A.distances_reference(f)
    d = A.distances(f, dtype)
    assert np.allclose(d, ref, rtol=tol, atol=tol) and np.array_equal(d, d.T) and (np.diag(d) == 0).all()


@pytest.mark.parametrize("half", [0, 1, 2, 3])
def test_dynamics_filter_equals_the_loop_reference(half):
    d = A.distances(rand_frames(10, seed=half), "float64")
    c = A.dynamics_filter(d, half)
    assert np.allclose(c, A.dynamics_filter_reference(d, half), equal_nan=False)
    assert (c[np.arange(9), np.arange(1, 10)] == 0).all()            # the clip's own next frame costs nothing
    assert np.isfinite(c).any(axis=1).all()                             # every frame has a way out
    ks, w = A.filter_taps(half)
    assert len(ks) == max(1, 2 * half) and np.isclose(w.sum(), 1)
    if half == 2:
        assert np.allclose(w * 8, [1, 3, 3, 1])


@pytest.mark.parametrize("alpha,seed", [(0.5, 0), (0.9, 1), (0.97, 2)])
def test_future_costs_equal_value_iteration_and_the_loop_reference(alpha, seed):
    cp = rand_costs(8, seed)
    f, info = A.future_costs(cp, alpha)
    ref = A.future_costs_reference(cp, alpha)
    fin = np.isfinite(ref)
    assert (np.isfinite(f) == fin).all() and np.allclose(f[fin], ref[fin], rtol=1e-9, atol=1e-9)
    vi, sweeps = A.value_iteration(cp, alpha, tol=1e-13)
    assert np.allclose(f[fin], vi[fin], atol=1e-9) and info["residual"] < 1e-9
    assert info["iterations"] < sweeps                                   # policy iteration: few steps
    # the fixed point: F = cp + alpha * min_k F[j, k]
    assert np.allclose(f[fin], (cp + alpha * f.min(axis=1)[None, :])[fin])


def test_policy_evaluation_is_the_discounted_sum():
    rng = np.random.default_rng(3)
    nxt, cost = rng.integers(0, 6, 6), rng.random(6)
    v = A.evaluate_policy(cost, nxt, 0.8)
    for i in range(6):
        j, total = i, 0.0
        for t in range(400):
            total += 0.8 ** t * cost[j]
            j = nxt[j]
        assert np.isclose(v[i], total)


def test_probabilities_are_pruned_distributions():
    e = rand_costs(12, 4)
    p = A.probabilities(e, 0.3, local_max=True, threshold=0.05)
    assert np.allclose(p.sum(axis=1), 1) and (p[~np.isfinite(e)] == 0).all()
    assert (p[np.arange(12), e.argmin(axis=1)] > 0).all()              # the row's best survives
    pad = np.pad(e, ((0, 0), (1, 1)), constant_values=np.inf)
    assert (e[p > 0] <= pad[:, :-2][p > 0]).all() and (e[p > 0] <= pad[:, 2:][p > 0]).all()
    w = np.exp(-(e - e.min(axis=1, keepdims=True)) / 0.3)
    assert (w[p > 0] >= 0.05 - 1e-12).all()
    dense = A.probabilities(e, 0.3, local_max=False, threshold=1e-9)
    assert np.allclose(dense[np.isfinite(e)] / w[np.isfinite(e)],
                       np.broadcast_to(1 / w.sum(1, keepdims=True), e.shape)[np.isfinite(e)])
    csr = A.to_csr(p)
    assert np.array_equal(A.csr_dense(csr, 12), p)


# ---- playback ------------------------------------------------------------------------------------------

def test_seeded_playback_is_reproducible(pendulum):
    model = VideoTexture(VideoTexture.Config()).fit(pendulum)
    a, b = model.play(2000, seed=5), model.play(2000, seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, model.play(2000, seed=6))
    p = A.csr_dense(model.csr, model.n)
    assert np.allclose(p.sum(1), 1) and (p[a[:-1], a[1:]] > 0).all()   # every step is a transition of P
    assert np.array_equal(model.play(50, seed=1, start=120)[:1], [120])
    with pytest.raises(ConfigError, match="start=300"):
        model.play(10, seed=0, start=300)


def test_crossfade_blends_only_after_jumps():
    f = rand_frames(12)
    seq = np.array([0, 1, 2, 7, 8, 9, 10, 3, 4])
    out = render(f, seq, crossfade=2)
    assert np.array_equal(out[:3], f[[0, 1, 2]]) and np.array_equal(out[5:7], f[[9, 10]])
    x = f.astype(float)
    assert np.abs(out[3] - (x[7] / 3 + 2 * x[3] / 3)).max() <= 1        # 1/3 new, 2/3 old
    assert np.abs(out[4] - (2 * x[8] / 3 + x[4] / 3)).max() <= 1
    assert np.array_equal(render(f, seq), f[seq]) and list(jumps(seq)) == [2, 6]


def dead_end_clip():
    """A pendulum whose last 15 frames show something unlike any other frame (and still)."""
    g = generated.pendulum(160, 32, period=23.3)
    f = g["frames"].copy()
    f[-15:] = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    f[-15:, :4] += np.arange(15, dtype=np.uint8)[:, None, None, None]   # slowly changing, never repeating
    return Clip(f, 25.0, "dead_end", {})


def test_a_dead_end_is_avoided_with_future_costs_and_never_traps():
    clip = dead_end_clip()
    with_f = VideoTexture(VideoTexture.Config()).fit(clip)
    without = VideoTexture(VideoTexture.Config(future=False)).fit(clip)
    end = len(clip) - 15
    a, b = with_f.play(10000, seed=0), without.play(10000, seed=0)
    assert (a >= end).mean() < 0.005                                    # steers clear of it
    assert (np.diff(a) != 0).all() and len(np.unique(a[-2000:])) > 50   # and is never stuck: keeps moving
    assert (b >= end).mean() > 0.02                                     # without future costs it walks in,
    assert len(np.unique(b[-2000:])) < 10                               # and ends up trapped there


def test_with_the_filter_no_jump_reverses_the_pendulum(pendulum):
    vel = pendulum.truth["velocity"]
    filt = VideoTexture(VideoTexture.Config()).fit(pendulum)
    plain = VideoTexture(VideoTexture.Config(filter_n=0)).fit(pendulum)
    seq_f, seq_p = filt.play(10000, seed=0), plain.play(10000, seed=0)
    assert len(jumps(seq_f)) > 1000                                      # it does jump, often
    assert reversals(seq_f, vel) == 0
    assert reversals(seq_p, vel) > 100
    # not luck of the draw: with the filter no reversing transition keeps any probability
    n = len(vel)
    p = A.csr_dense(filt.csr, n)
    va, vb = vel[np.minimum(np.arange(n) + 1, n - 1)][:, None], vel[None, :]
    rev = (va * vb < 0) & (np.minimum(abs(va), abs(vb)) > 0.1 * abs(vel).max())
    rev[-1] = False
    assert p[rev].sum() == 0
    q = quality(seq_f, A.distances(pendulum.frames))
    assert q["jump_smoothness"] < 1 and q["tail_share"] < 0.05


# ---- loops ---------------------------------------------------------------------------------------------

def test_loops_really_loop(pendulum):
    model = VideoTexture(VideoTexture.Config(loop_max_len=90)).fit(pendulum)
    lp = model.loop
    frames, chosen = lp["frames"], set(lp["transitions"])
    assert len(frames) == lp["length"] <= 90
    cyc = np.concatenate([frames, frames[:1]])
    for a, b in zip(cyc[:-1], cyc[1:]):                                   # natural steps or chosen jumps
        assert b == a + 1 or (a, b) in chosen
    assert (int(frames[-1]), int(frames[0])) in chosen                   # the wrap-around is a DP jump
    assert np.isclose(lp["cost"], sum(model.cost[s, d] for s, d in lp["transitions"]), rtol=1e-5)
    exact = L.find_loop(model.cost.astype(np.float64), 90, 40, length=37)   # one swing: 37.3 frames
    assert len(exact["frames"]) == 37 and len(exact["transitions"]) == 1
    with pytest.raises(ConfigError, match="loop_length=91"):
        L.find_loop(model.cost.astype(np.float64), 90, 40, length=91)


def test_loop_table_equals_brute_force():
    rng = np.random.default_rng(7)
    n, max_len = 30, 24
    c = rng.random((n, n)) + 0.1
    cand = L.candidates(c, max_len, 6)
    table = L.best_loops(cand, max_len)
    m = len(cand["s"])
    best = np.full(max_len + 1, np.inf)
    for size in range(1, 5):   # every multiset of up to 4 candidates in which one overlaps all the others
        for combo in itertools.combinations_with_replacement(range(m), size):
            ell = sum(int(cand["length"][k]) for k in combo)
            if ell > max_len:
                continue
            star = any(all(cand["d"][i] <= cand["s"][j] and cand["d"][j] <= cand["s"][i] for j in combo) for i in combo)
            if star:
                best[ell] = min(best[ell], sum(cand["cost"][k] for k in combo))
    short = cand["length"].min()
    check = np.arange(max_len + 1) < 5 * short                          # lengths reachable with <= 4 members
    assert np.allclose(table["cost"][check], best[check])


def test_schedule_orders_any_chained_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        trans = []
        for _ in range(rng.integers(1, 7)):
            d = int(rng.integers(0, 40))
            trans.append((d + int(rng.integers(1, 12)), d))
        try:
            cycle = L.schedule(trans)
        except ValueError:    # allowed only when the ranges do not chain into one interval
            lo = sorted(trans, key=lambda t: t[1])
            assert any(t[1] > max(u[0] for u in lo[:k + 1]) for k, t in enumerate(lo[1:]))
            continue
        assert sorted(cycle) == sorted(trans)
        frames = L.loop_frames(cycle)
        assert len(frames) == sum(s - d + 1 for s, d in trans)


# ---- control -------------------------------------------------------------------------------------------

def test_frame_range_control_moves_there_and_stays(pendulum):
    model = VideoTexture(VideoTexture.Config()).fit(pendulum)
    g = generated.flame(200, 32, seed=0)
    flame = VideoTexture(VideoTexture.Config()).fit(Clip(g["frames"], 25.0, "flame", {}))
    for m, (first, last, start) in itertools.product((model, flame), ((120, 160, 0), (20, 70, 190))):
        for penalty in (1.0, 0.1):
            seq = m.play_range(first, last, 5000, seed=1, start=start, penalty=penalty)
            inside = (seq >= first) & (seq <= last)
            t = int(np.argmax(inside))
            assert inside.any() and t < 200 and inside[t:].mean() >= 0.9, (m.clip_name, first, penalty)
    with pytest.raises(ConfigError, match="target"):
        model.play_range(10, 400, 10, seed=0)


def test_the_sprite_reaches_every_waypoint():
    g = generated.sprite(400, 96, seed=0)
    model = VideoTexture(VideoTexture.Config()).fit(Clip(g["frames"], 25.0, "sprite", g["truth"]))
    pts = [[72, 24], [24, 24], [24, 72], [72, 72], [48, 48]]
    for seed in range(3):
        r = model.play_steered(pts, 1000, seed, radius=4.0)
        reached = r["reached"]
        assert None not in reached
        steps = np.diff([0] + reached)
        assert steps.max() <= 80                                        # ~48 px at 1.5 px / frame, plus turns
        gaps = [np.hypot(*(r["positions"][t] - p)) for t, p in zip(reached, pts)]
        assert max(gaps) <= 4.0
    with pytest.raises(ConfigError, match="sprite clip"):
        VideoTexture(VideoTexture.Config()).fit(Clip(g["frames"], 25.0, "plain", {})).play_steered(pts, 10, 0)


# ---- the family through train.py / sample.py / evaluate.py ---------------------------------------------

def test_fit_save_load_sample_evaluate(tmp_path):
    from seqgen.app.evaluate import evaluate
    from seqgen.app.sample import sample
    from seqgen.app.train import train
    from seqgen.core import checkpoint as ckpt

    result = train(compose(["model=video_texture", "data=pendulum", "data.n_frames=120", f"out_root={tmp_path}",
                            "run_name=vt", "video_texture.eval_frames=2000", "video_texture.sample_frames=20"]))
    path = result["checkpoint"]
    state = torch.load(path, weights_only=True)                         # tensors and primitives only
    assert state["model_name"] == "video_texture" and state["model"]["frames"].dtype == torch.uint8
    assert state["model_config"]["n_frames"] == 120 and result["metrics"]["reversals"] == 0
    assert (tmp_path / "vt" / "samples" / "texture.gif").is_file()
    assert (tmp_path / "vt" / "samples" / "transition_matrix.png").is_file()
    model = VideoTexture.from_state(state["model_config"], state["model"])
    assert np.array_equal(model.play(500, 3), result["model"].play(500, 3))   # the checkpoint alone plays it
    for extra, suffix in ((["++frames=40", "++crossfade=2"], "gif"), (["++frames=30"], "mp4"),
                          (["++loop=true"], "png"), (["++target=[60,100]", "++frames=50"], "gif")):
        out = tmp_path / f"s_{len(extra)}_{suffix}.{suffix}"
        r = sample(compose([f"ckpt={path}", f"out={out}", *extra], "sample"))
        info = json.loads(out.with_suffix(".json").read_text())
        assert out.is_file() and out.stat().st_size > 0 and len(info["indices"]) == len(r["indices"])
    with pytest.raises(ConfigError, match="valid keys.*frames"):
        sample(compose([f"ckpt={path}", "++framez=3"], "sample"))
    with pytest.raises(ConfigError, match="pick one playback mode"):
        sample(compose([f"ckpt={path}", "++loop=true", "++target=[1,5]"], "sample"))
    figs = evaluate({"ckpt": str(path), "frames": 2000, "figure": str(tmp_path / "m.png")})
    assert figs["reversals"] == 0 and figs["nofilter/reversals"] > 0 and figs["range_share_after"] >= 0.9
    assert figs["nofuture/tail_share"] > figs["tail_share"] and (tmp_path / "m.png").is_file()
    assert ckpt.load(path)["metrics"]["jumps_per_100"] > 0
    # one checkpoint, one set of figures: evaluate.py walks with the run's seed, as train.py did
    figs = evaluate({"ckpt": str(path), "frames": 2000})
    train_metrics = result["metrics"]
    for k in ("jumps_per_100", "longest_run", "tail_share", "jump_smoothness", "loop_jumps", "loop_length",
              "nofilter/reversals", "range_share_after"):
        assert figs[k] == pytest.approx(train_metrics[k]), k
    # and sample.py's loop counts the wrap-around jump, as loop_jumps does
    info = json.loads((tmp_path / "s_1_png.json").read_text())
    assert info["mode"] == "loop" and info["jumps"] == figs["loop_jumps"] >= 1


def test_script_errors_are_one_line(tmp_path):
    res = run_script(["scripts/train.py", "model=video_texture", "data=video_file", f"out_root={tmp_path}"],
                     check=False)
    assert res.returncode == 2 and "data.path" in res.stderr and "Traceback" not in res.stderr
    res = run_script(["scripts/train.py", "model=video_texture", "data=pendulum", "model.sigma=0",
                      f"out_root={tmp_path}"], check=False)
    # the typed model config holds the value as its field's type (a float), so it reads 0.0
    assert res.returncode == 2 and "model.sigma=0.0: expected > 0" in res.stderr, res.stderr
