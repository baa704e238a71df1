"""Efros-Leung: fast == slow reference under one seed; sample values only; fills; text; bad inputs."""

import numpy as np
import pytest

from seqgen.texture.efros_leung import EfrosLeungConfig, TextureError, extrapolate, fill_holes, synthesize
from seqgen.texture.images import load_image, save_png, texture_distance
from seqgen.texture.text import TextSampler, text_stats
from tests.conftest import run_script


def stripes(h=16, w=16, c=3, seed=0):
    """A small structured colour texture with noise (no exact ties between windows)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x * 1.3 + y * 0.4)[..., None] + np.arange(c)) % 1.0
    return np.clip(base * 0.7 + 0.3 * rng.random((h, w, c)), 0, 1)


@pytest.mark.parametrize("window,channels", [(5, 3), (7, 1)])
def test_fast_equals_reference(window, channels):
    sample = stripes(c=channels)
    cfg = EfrosLeungConfig(window=window)
    fast = synthesize(sample, 12, cfg, seed=4)
    slow = synthesize(sample, 12, cfg, seed=4, reference=True)
    assert np.array_equal(fast, slow)
    assert not np.array_equal(fast, synthesize(sample, 12, cfg, seed=5))  # the seed matters


def test_exact_repeats_keep_their_ties():
    """A quantised texture has many exactly equal windows: float64 keeps them tied, like the reference."""
    sample = np.round(stripes(c=1) * 3) / 3
    cfg = EfrosLeungConfig(window=5)
    assert np.array_equal(synthesize(sample, 10, cfg, seed=1), synthesize(sample, 10, cfg, seed=1, reference=True))


def test_every_output_value_occurs_in_sample():
    sample = stripes()
    out = synthesize(sample, 20, EfrosLeungConfig(window=5), seed=0)
    colours = {tuple(p) for p in sample.reshape(-1, 3)}
    assert all(tuple(p) in colours for p in out.reshape(-1, 3))


def test_hole_filling_keeps_known_pixels_and_matches_reference():
    img = stripes(20, 20)
    mask = np.zeros((20, 20), bool)
    mask[7:12, 6:13] = True
    cfg = EfrosLeungConfig(window=5)
    out = fill_holes(img, mask, cfg, seed=2)
    assert np.array_equal(out[~mask], img[~mask])
    assert np.array_equal(out, fill_holes(img, mask, cfg, seed=2, reference=True))
    big = extrapolate(img, 3, cfg, seed=0)
    assert big.shape == (26, 26, 3) and np.array_equal(big[3:23, 3:23], img)


def test_bad_inputs(tmp_path):
    with pytest.raises(TextureError, match="smaller than the window"):
        synthesize(stripes(8, 8), 16, EfrosLeungConfig(window=11))
    with pytest.raises(TextureError, match="mask is empty"):
        fill_holes(stripes(), np.zeros((16, 16), bool))
    with pytest.raises(TextureError, match="odd number"):
        synthesize(stripes(), 16, EfrosLeungConfig(window=4))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(TextureError, match="not a readable image"):
        load_image(str(bad))
    with pytest.raises(TextureError, match="file not found"):
        load_image(str(tmp_path / "missing.png"))


def test_quality_check_separates_texture_from_noise():
    sample = stripes(32, 32)
    good = synthesize(sample, 24, EfrosLeungConfig(window=7), seed=0)
    noise = np.random.default_rng(0).random((24, 24, 3))
    qg, qn = texture_distance(sample, good), texture_distance(sample, noise)
    assert qg["patch_nn"] < qn["patch_nn"] / 3 and qg["hist_tv"] < qn["hist_tv"]


def test_text_window_longer_than_any_repeat_reproduces_source():
    source = "the quick brown fox jumps over a lazy dog; pack my box with five dozen liquor jugs."
    out = TextSampler(source, window=12).generate(len(source), seed=0, start=0)
    assert out == source


def test_text_small_window_babbles_large_window_copies():
    source = ("to be or not to be that is the question whether tis nobler in the mind to suffer "
              "the slings and arrows of outrageous fortune or to take arms against a sea of troubles ") * 3
    small = text_stats(TextSampler(source, 1).generate(400, seed=0), source, copy_len=12)
    large = text_stats(TextSampler(source, 8).generate(400, seed=0), source, copy_len=12)
    assert large["copy_rate"] > small["copy_rate"] and large["real_word_rate"] >= small["real_word_rate"]
    with pytest.raises(TextureError, match="longer than the window"):
        TextSampler("abc", 5)


def test_synthesize_script_writes_png_and_text(tmp_path):
    img = tmp_path / "sample.png"
    save_png(stripes(24, 24), img)
    out = tmp_path / "o.png"
    run_script(["scripts/synthesize.py", f"image={img}", "resize=null", "crop=null", "size=20", "window=5",
                f"out={out}"])
    from PIL import Image

    assert Image.open(out).size == (20, 20)
    src = tmp_path / "src.txt"
    src.write_text("abcdefgh " * 30)
    res = run_script(["scripts/synthesize.py", "mode=text", f"text={src}", "windows=[2,4]", "length=50",
                      f"out={tmp_path / 't.txt'}"])
    assert "| 4 |" in res.stdout
    bad = run_script(["scripts/synthesize.py", f"image={tmp_path / 'nope.png'}"], check=False)
    assert bad.returncode == 2 and "file not found" in bad.stderr


def test_word_level_text():
    words = "the cat sat on the mat and the dog sat on the log".split()
    out = TextSampler(words, 2).generate(8, seed=0, start=0)
    assert out.split()[:2] == ["the", "cat"] and all(w in words for w in out.split())


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_reference():
    sample = stripes()
    cfg = EfrosLeungConfig(window=5)
    assert np.array_equal(synthesize(sample, 12, cfg, seed=4, device="cuda"),
                          synthesize(sample, 12, cfg, seed=4, reference=True))
