"""Image analogies: fast == pixel-at-a-time reference, exact search == brute force, the coherence rule,
seeds, tiny palette images, the filters, clear errors, and B′ beating the naive baselines."""

import numpy as np
import pytest
import torch

from seqgen.core.errors import ConfigError
from seqgen.texture.analogy import AnalogyConfig, analogy, analogy_result
from seqgen.texture.analogy_eval import linear_map, psnr, score_filter, ssim
from seqgen.texture.analogy_reference import analogy_reference
from seqgen.texture.analogy_search import ExactSearch, brute_force
from seqgen.texture.efros_leung import TextureError
from seqgen.texture.filters import FILTERS, down_up, kuwahara, make_pair, posterize
from seqgen.texture.images import save_png
from seqgen.texture.procedural import scene
from tests.conftest import run_script


def noisy(h, w, seed):
    """Structured colour image plus noise: no two windows tie exactly."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(x * 0.9 + y * 0.5)[..., None] + 0.05 * np.arange(3)
    return np.clip(base + 0.2 * rng.random((h, w, 3)) - 0.1, 0, 1)


A, B = noisy(14, 13, 0), noisy(12, 11, 1)
A_PRIME = np.clip(1 - A ** 2, 0, 1)


@pytest.mark.parametrize("kw", [dict(levels=2), dict(levels=1, features="rgb", color="a_prime", kappa=5.0),
                                dict(levels=2, color="colorize", remap=False, b_weight=0.5)],
                         ids=["luminance-2-levels", "rgb-coherent", "colorize"])
def test_fast_equals_pixel_at_a_time_reference(kw):
    cfg = AnalogyConfig(dtype="float64", search="exact", **kw)
    fast = analogy_result(A, A_PRIME, B, cfg, seed=3)
    slow = analogy_reference(A, A_PRIME, B, cfg, seed=3)
    assert np.array_equal(fast.source, slow.source)
    assert np.array_equal(fast.b_prime, slow.b_prime)
    assert fast.coherent == pytest.approx(slow.coherent)
    assert fast.b_prime.shape == (12, 11, 3)


def test_coherence_is_used_with_a_large_kappa():
    coherent = analogy_result(A, A_PRIME, B, AnalogyConfig(levels=1, kappa=50.0), seed=0)
    assert coherent.coherent[-1] > 0.3


def test_exact_search_equals_brute_force():
    gen = torch.Generator().manual_seed(0)
    M, N, Ds, Dc = 300, 40, 7, 5
    P = torch.rand(M, Ds + Dc, generator=gen, dtype=torch.float64)
    masks = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 0, 1, 0, 0]], dtype=torch.float64)
    cls = torch.randint(0, 3, (N,), generator=gen)
    Mq = torch.cat([torch.ones(N, Ds, dtype=torch.float64), masks[cls]], 1)
    T = torch.rand(N, Ds + Dc, generator=gen, dtype=torch.float64) * Mq
    perm = torch.randperm(M, generator=gen)
    want = brute_force(P, T, Mq, perm)
    assert torch.equal(ExactSearch(P, Ds, masks, perm)(None, T, Mq, cls), want)
    assert torch.equal(ExactSearch(P, Ds, masks, perm, block=64)(None, T, Mq, cls), want)   # chunked over A
    got32 = ExactSearch(P.float(), Ds, masks.float(), perm)(None, T.float(), Mq.float(), cls)  # float32: same
    d = ((P[:, None] - T[None]) ** 2 * Mq[None]).sum(-1)                                      # distances
    assert torch.allclose(d[got32, torch.arange(N)], d[want, torch.arange(N)], rtol=1e-5)


def test_exact_ties_follow_the_seeded_permutation():
    P = torch.zeros(50, 4, dtype=torch.float64)                     # every A pixel ties
    T, Mq = torch.zeros(3, 4, dtype=torch.float64), torch.ones(3, 4, dtype=torch.float64)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    got = ExactSearch(P, 2, torch.ones(1, 2, dtype=torch.float64), perm)(None, T, Mq, torch.zeros(3, dtype=torch.long))
    assert (got == perm[0]).all()


def test_patchmatch_finds_an_exact_copy():
    a = scene(48, 0)
    b = a[4:36, 8:40]                        # B is a crop of A (even offset: the coarse level aligns too)
    cfg = AnalogyConfig(levels=2, search="patchmatch", kappa=0.0, color="a_prime", features="rgb", remap=False)
    res = analogy_result(a, a, b, cfg, seed=0)
    inner = (slice(6, -6), slice(6, -6))     # away from B's replicated borders
    assert np.array_equal(res.b_prime[inner], b[inner])                   # every colour right ...
    want = np.stack(np.mgrid[4:36, 8:40], -1)
    assert (res.source[inner] == want[inner]).all(-1).mean() > 0.8      # ... mostly from the true place


def test_kappa_zero_equals_pure_approximate_matching():
    for search in ("exact", "patchmatch"):
        k0 = analogy_result(A, A_PRIME, B, AnalogyConfig(levels=2, kappa=0.0, search=search), seed=0)
        off = analogy_result(A, A_PRIME, B, AnalogyConfig(levels=2, coherence=False, search=search), seed=0)
        assert np.array_equal(k0.source, off.source), search
        assert k0.coherent == [0.0, 0.0]
    big = analogy_result(A, A_PRIME, B, AnalogyConfig(levels=2, kappa=20.0, search="exact"), seed=0)
    assert not np.array_equal(big.source, off.source)


def test_seeded_determinism():
    a = scene(32, 0)                          # flat sky and lake: many exactly tied windows
    b = scene(24, 1)
    for search in ("exact", "patchmatch"):
        cfg = AnalogyConfig(levels=1, features="rgb", color="a_prime", search=search)
        one = analogy_result(a, a, b, cfg, seed=7)
        assert np.array_equal(one.source, analogy_result(a, a, b, cfg, seed=7).source)
        assert not np.array_equal(one.source, analogy_result(a, a, b, cfg, seed=8).source)  # ties differ


def test_tiny_palette_images_a_clean_call():
    """The visual-prompting use: A : A′ :: B : ? on 16x16 label grids rendered as RGB."""
    pal = np.array([[1.0, 1.0, 1.0], [0.9, 0.1, 0.1], [0.1, 0.2, 0.9]])   # white, red, blue
    grid_a, grid_b = np.zeros((16, 16), int), np.zeros((16, 16), int)
    grid_a[3:9, 4:10] = 1                                                 # A: a red square
    grid_b[8:13, 2:7] = 1                                                 # B: a red square elsewhere
    a, a_prime, b = pal[grid_a], pal[grid_a * 2], pal[grid_b]             # A′: the square turned blue
    cfg = AnalogyConfig(levels=1, features="rgb", color="a_prime", kappa=0.0)
    out = analogy(a, a_prime, b, cfg, seed=0)
    assert out.shape == (16, 16, 3)
    assert np.array_equal(out, pal[grid_b * 2])                           # a blue square where B's red one is
    with pytest.raises(TextureError, match="render label grids"):
        analogy(grid_a, grid_a, grid_b, cfg)
    assert np.array_equal(analogy((a * 255).astype(np.uint8), a_prime, b, cfg, seed=0), out)   # uint8 too


def test_b_equal_to_a_reproduces_a_prime():
    a = scene(32, 3)
    for name in ("emboss", "posterize"):
        pair = make_pair(name, a, a)
        cfg = AnalogyConfig(**{**FILTERS[name].settings, "search": "exact"})
        assert np.array_equal(analogy(pair["a"], pair["a_prime"], a, cfg), pair["a_prime"])


def test_clear_errors(tmp_path):
    with pytest.raises(TextureError, match="A and A′ must have the same size"):
        analogy(A, A_PRIME[:-1], B)
    with pytest.raises(TextureError, match=r"smaller than the 5x5 window.*fewer levels"):
        analogy(A, A_PRIME, B, AnalogyConfig(levels=3))
    with pytest.raises(ConfigError, match="color='rgb'"):
        analogy(A, A_PRIME, B, AnalogyConfig(levels=1, color="rgb"))
    with pytest.raises(ConfigError, match="window=4"):
        analogy(A, A_PRIME, B, AnalogyConfig(levels=1, window=4))
    with pytest.raises(ConfigError, match="filter='sepia'.*blur"):
        make_pair("sepia", A, B)
    with pytest.raises(TextureError, match=r"values must lie in \[0, 1\]"):
        analogy(A * 255, A_PRIME, B)


def test_filters():
    img = scene(32, 1)
    flat = np.full((16, 16, 3), 0.3)
    assert np.allclose(kuwahara(flat), flat)
    assert set(np.unique(posterize(img))) <= {0.0, 1 / 3, 2 / 3, 1.0}
    assert down_up(img).shape == img.shape and psnr(down_up(img), img) < 40
    for name in FILTERS:
        pair = make_pair(name, img, scene(24, 2))
        assert pair["a"].shape == pair["a_prime"].shape == img.shape and pair["b"].shape == (24, 24, 3)
        assert (pair["truth"] is None) == (name in ("labels", "texture"))
    a = np.random.default_rng(0).random((20, 20, 3))
    assert np.allclose(linear_map(a, 0.5 * a + 0.2, a), 0.5 * a + 0.2)       # the linear baseline is exact here
    assert ssim(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["blur", "emboss"])
def test_b_prime_beats_the_naive_baselines_on_a_local_filter(name):
    row = score_filter(name, scene(64, 0), scene(64, 1), search="exact")
    assert row["b_prime_psnr"] > max(row["b_unchanged_psnr"], row["linear_psnr"]), row
    assert row["b_prime_ssim"] > max(row["b_unchanged_ssim"], row["linear_ssim"]), row


def test_synthesize_script_analogy(tmp_path):
    a, b = scene(24, 0), scene(20, 1)
    for name, img in (("a", a), ("ap", 1 - a), ("b", b), ("small", a[:10])):
        save_png(img, tmp_path / f"{name}.png")
    out = tmp_path / "panel.png"
    res = run_script(["scripts/synthesize.py", "mode=analogy", f"a={tmp_path / 'a.png'}",
                      f"a_prime={tmp_path / 'ap.png'}", f"b={tmp_path / 'b.png'}", "side=null", "levels=1",
                      f"out={out}"])
    from PIL import Image

    assert Image.open(out).size[0] == 2 * 24 + 2 * 20 + 3 * 8 and '"search": "exact"' in res.stdout
    assert Image.open(tmp_path / "panel_bprime.png").size == (20, 20)
    res = run_script(["scripts/synthesize.py", "mode=analogy", f"a={tmp_path / 'a.png'}", "filter=blur",
                      f"b={tmp_path / 'b.png'}", "side=null", "levels=1", f"out={tmp_path / 'f.png'}"])
    assert '"b_prime_psnr"' in res.stdout
    bad = [(f"a_prime={tmp_path / 'small.png'}", "must have the same size"), ("filter=sepia", "filter='sepia'.*blur"),
           (f"a_prime={tmp_path / 'nope.png'}", "a_prime=.*file not found")]
    for arg, msg in bad:
        r = run_script(["scripts/synthesize.py", "mode=analogy", f"a={tmp_path / 'a.png'}", arg,
                        f"b={tmp_path / 'b.png'}"], check=False)
        assert r.returncode == 2 and __import__("re").search(msg, r.stderr), (arg, r.stderr)
