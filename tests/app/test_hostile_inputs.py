"""Hostile inputs, round 2 of the fault probe: files that point outside their folder, tiny files that
decode to huge images, and every image reader naming the file it refuses. Bad files are made here, in
tmp; memory caps are checked with the peak RSS (VmHWM) of a child process (which also carries an address-space
limit, so a regression fails instead of eating the machine)."""

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqgen.core.errors import ConfigError, DataError
from tests.conftest import ROOT, run_script

CHILD_CAP_MB = 900     # what any reader may use on these inputs (torch and datasets imported: ~320 MB)


def _child(code: str, limit_gb: int = 6) -> tuple[str, float]:
    """Run `code` in a fresh interpreter -> (its stdout + stderr, its peak RSS in MB)."""
    prog = "\n".join([
        "import resource, sys",
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit_gb} << 30, {limit_gb} << 30))",
        "try:",
        textwrap.indent(textwrap.dedent(code).strip("\n"), "    "),
        "except Exception as e:",
        "    print(type(e).__name__ + ': ' + str(e))",
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, so a
        # child of a big pytest process would report the parent's peak (1046 MB in the full suite)
        "print('MAXRSS', next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')))"])
    res = subprocess.run([sys.executable, "-c", prog], cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    rss = [float(line.split()[1]) / 1024 for line in out.splitlines() if line.startswith("MAXRSS")]
    assert rss, out
    return out, rss[0]


def bomb_png(path: Path, side: int = 10000) -> Path:
    """A 1-bit PNG of side x side: a few KB on disk, side² pixels decoded."""
    from PIL import Image

    Image.new("1", (side, side)).save(path)
    return path


def bomb_gif(path: Path, side: int = 10000, frames: int = 6) -> Path:
    """An animated GIF whose logical screen is side x side, holding `frames` 1x1 frames (~100 bytes):
    Pillow composes every frame onto the whole screen."""
    out = b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for i in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"                   # 100 ms per frame
        out += b"\x2c" + struct.pack("<HHHHB", i, 0, 1, 1, 0)        # a 1x1 frame at (i, 0)
        out += b"\x02\x02" + (b"\x44" if i % 2 else b"\x4c") + b"\x01\x00"   # LZW: clear, colour 0|1, end
    path.write_bytes(out + b"\x3b")
    return path


def _folder(path: Path, rows: list[dict]) -> Path:
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), (80 * i, 0, 0), np.uint8)).save(path / f"{i}.png")
    lines = [{"file_name": f"{i}.png", "text": f"picture {i}"} for i in range(3)] + rows
    (path / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return path


def _image_cfg(folder, **extra):
    from seqgen.core.schema import build
    from seqgen.data.images.prepare import ImageDataConfig

    return build(ImageDataConfig, {"name": "imagefolder", "path": str(folder), "palette_size": 3, "size": 8,
                                   **extra}, "data")


# ---- 1. path traversal through an imagefolder ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["../secret.png", "/SECRET", "sub/../../secret.png", "C:\\x\\secret.png"])
def test_imagefolder_file_names_must_stay_inside_the_folder(tmp_path, name):
    pytest.importorskip("datasets")
    from PIL import Image

    from seqgen.data.images.prepare import prepare_images

    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(secret)
    name = name.replace("/SECRET", str(secret))
    folder = _folder(tmp_path / "imgs", [{"file_name": name, "text": "outside"}])
    with pytest.raises(DataError, match=r"metadata\.jsonl, line 4: file_name=.*points outside the folder"):
        prepare_images(_image_cfg(folder), tmp_path / "data", verbose=False)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.bin"))


def test_imagefolder_metadata_without_a_file_name_is_named(tmp_path):
    from seqgen.data.images.hf_images import check_file_names

    folder = _folder(tmp_path / "imgs", [{"text": "no file"}])
    with pytest.raises(DataError, match=r"line 4: no \"file_name\""):
        check_file_names(folder)


def test_imagefolder_symlinks_out_and_bad_json_lines_are_named(tmp_path):
    """Probe round 3: a link inside the folder to a file outside it was followed; a broken JSON line
    was reported with the decoder's line inside that line, not the file's."""
    from seqgen.data.images.hf_images import check_file_names

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    folder = _folder(tmp_path / "imgs", [])
    (folder / "link.png").symlink_to(secret)
    with pytest.raises(DataError, match=r"link\.png: a symbolic link to .*secret\.png, outside the folder"):
        check_file_names(folder)
    (folder / "link.png").unlink()
    (folder / "inside.png").symlink_to(next(folder.glob("*.png")))    # a link that stays inside: fine
    check_file_names(folder)
    meta = folder / "metadata.jsonl"
    meta.write_text(meta.read_text() + '{"file_name": "a.png", \n')
    n = len(meta.read_text().splitlines())
    with pytest.raises(DataError, match=rf"metadata\.jsonl, line {n}: not a JSON object"):
        check_file_names(folder)


# ---- 2. tiny files that decode to huge images -----------------------------------------------------------------

def test_a_png_bomb_in_an_imagefolder_is_refused_by_name_in_little_memory(tmp_path):
    pytest.importorskip("datasets")
    folder = _folder(tmp_path / "imgs", [{"file_name": "bomb.png", "text": "huge"}])
    bomb_png(folder / "bomb.png")
    assert (folder / "bomb.png").stat().st_size < 100_000
    out, rss = _child(f"""
        from seqgen.core.schema import build
        from seqgen.data.images.prepare import ImageDataConfig, prepare_images
        cfg = build(ImageDataConfig, {{"name": "imagefolder", "path": {str(folder)!r}, "palette_size": 3,
                                       "size": 8}}, "data")
        prepare_images(cfg, {str(tmp_path / 'data')!r}, verbose=False)
    """)
    assert "DataError" in out and "bomb.png" in out and "10000x10000" in out and "data.max_pixels" in out, out
    assert rss < CHILD_CAP_MB, f"{rss:.0f} MB"


def test_a_big_image_is_decoded_scaled_down_for_an_imagefolder(tmp_path):
    """Within the cap, a 6000² image asked for at 32 px is reduced before the RGBA copy and the resize."""
    from seqgen.data.images.hf_images import _open

    bomb_png(tmp_path / "big.png", 6000)
    im = _open({"path": str(tmp_path / "big.png"), "bytes": None}, "row 0", _image_cfg(tmp_path), 32)
    assert max(im.size) < 4 * 32
    bomb_png(tmp_path / "photo.png", 1000)     # under 16 MP: decoded whole, so datasets prepare as before
    im = _open({"path": str(tmp_path / "photo.png"), "bytes": None}, "row 0", _image_cfg(tmp_path), 32)
    assert im.size == (1000, 1000)


def test_a_gif_bomb_is_refused_before_decoding_frames(tmp_path):
    gif = bomb_gif(tmp_path / "bomb.gif")
    assert gif.stat().st_size < 5000
    out, rss = _child(f"""
        from seqgen.data.video.clips import ClipConfig, read_clip
        read_clip({str(gif)!r}, ClipConfig(name="video_file"))
    """)
    assert "DataError" in out and "bomb.gif" in out and "10000x10000" in out and "data.max_pixels" in out, out
    assert rss < CHILD_CAP_MB, f"{rss:.0f} MB"


def test_a_clip_over_the_frames_cap_is_refused_before_decoding(tmp_path):
    """Six 7000² frames, each under data.max_pixels, 294 MP in all: refused from the header (it once
    decoded four of them, 1.5 GB, before the running count refused it)."""
    gif = bomb_gif(tmp_path / "six.gif", side=7000, frames=6)
    out, rss = _child(f"""
        from seqgen.data.video.clips import ClipConfig, read_clip
        read_clip({str(gif)!r}, ClipConfig(name="video_file"))
    """)
    assert "DataError" in out and "six.gif: the 6 frames" in out and "data.max_clip_pixels" in out, out
    assert rss < CHILD_CAP_MB, f"{rss:.0f} MB"


def test_frames_times_pixels_of_a_clip_are_capped(tmp_path):
    from seqgen.data.video.clips import ClipConfig, read_clip

    gif = bomb_gif(tmp_path / "wide.gif", side=300, frames=6)
    with pytest.raises(DataError, match=r"wide\.gif: the 6 frames .* of its 6, 300x300 .*data\.max_clip_pixels=200000"):
        read_clip(gif, ClipConfig(name="video_file", max_clip_pixels=200_000))
    clip = read_clip(gif, ClipConfig(name="video_file", max_clip_pixels=200_000, size=100))   # asked smaller: fits
    assert clip.frames.shape == (6, 100, 100, 3)
    clip = read_clip(gif, ClipConfig(name="video_file", max_clip_pixels=200_000, stride=3))   # fewer: fits
    assert clip.frames.shape == (2, 300, 300, 3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        bomb_png(folder / f"{i:03d}.png", 300)
    with pytest.raises(DataError, match=r"frames: the 4 frames .*300x300 .*data\.max_clip_pixels=200000"):
        read_clip(folder, ClipConfig(name="video_file", max_clip_pixels=200_000))
    assert read_clip(folder, ClipConfig(name="video_file", max_clip_pixels=200_000, max_frames=2)).frames.shape[0] == 2
    with pytest.raises(DataError, match=r"data=pendulum: 300 frames of 64x64 .*data\.max_clip_pixels"):
        from seqgen.data.video.clips import load_clip
        load_clip(ClipConfig(name="pendulum", max_clip_pixels=1000))


def test_analogy_scales_a_before_the_float_copy_and_refuses_a_bomb(tmp_path):
    big = bomb_png(tmp_path / "big.png", 6000)        # 36 MP: within the cap, 0.9 GB as float64 RGB
    out, rss = _child(f"""
        from seqgen.core.schema import build
        from seqgen.texture.analogy_run import inputs
        from seqgen.texture.run import SynthConfig
        d = inputs(build(SynthConfig, {{"mode": "analogy", "a": {str(big)!r}, "filter": "blur",
                                        "b": {str(big)!r}, "side": 64}}, "synthesize"))
        print("SHAPE", d["a"].shape)
    """)
    assert "SHAPE (64, 64, 3)" in out, out
    assert rss < 600, f"{rss:.0f} MB"     # float64 at full size: 36 M x 3 x 8 bytes = 864 MB more
    bomb = bomb_png(tmp_path / "bomb.png")
    res = run_script(["scripts/synthesize.py", "mode=analogy", f"a={bomb}", "filter=blur", "b=skimage:coffee",
                      f"out={tmp_path / 'o.png'}"], check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"a={bomb}: a 10000x10000 image" in res.stderr and "max_pixels=" in res.stderr


def test_synthesize_image_bomb_and_non_image_are_named(tmp_path):
    from seqgen.texture.images import load_image

    with pytest.raises(DataError, match=r"image=.*bomb\.png: a 10000x10000 image is 100\.0 megapixels"):
        load_image(str(bomb_png(tmp_path / "bomb.png")))
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(DataError, match=r"mask=.*x\.png: not a readable image"):
        load_image(str(tmp_path / "x.png"), key="mask")


def test_sample_readers_check_the_size_before_decoding(tmp_path):
    """The upsampler's image= and visual prompting's examples= read the header first: a bomb of the
    wrong size is a ConfigError at once, a non-image names the file."""
    from seqgen.data.images.safe import open_image

    bomb = bomb_png(tmp_path / "bomb.png")
    with pytest.raises(ConfigError, match=r"image=.*bomb\.png is 10000x10000; expected 32x32"):
        open_image(bomb, f"image={bomb}", expect=(32, 32))
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(DataError, match=r"image=.*t\.png: not a readable image"):
        open_image(tmp_path / "t.png", f"image={tmp_path / 't.png'}", expect=(32, 32))


def test_upsampler_image_non_image_and_bomb_through_sample(tmp_path):
    from seqgen.app.sample import sample
    from tests.conftest import compose

    ckpt = ROOT / "tests" / "fixtures" / "v1" / "upsampler.pt"
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(DataError, match=r"image=.*text\.png: not a readable image"):
        sample(compose([f"ckpt={ckpt}", f"+image={tmp_path / 'text.png'}", f"out={tmp_path / 'o.png'}"], "sample"))
    bomb = bomb_png(tmp_path / "bomb.png")
    with pytest.raises(ConfigError, match=r"image=.*bomb\.png is 10000x10000; this upsampler takes 32x32"):
        sample(compose([f"ckpt={ckpt}", f"+image={bomb}", f"out={tmp_path / 'o.png'}"], "sample"))


def test_file_system_refusals_are_one_line_at_the_cli_boundary(capsys):
    """Probe round 3: a read-only metrics.jsonl or data root ended in a PermissionError traceback (root
    ignores modes, so the errors are raised here): the file and the reason in one line, exit 2; an
    OSError that is not the user's to fix still propagates."""
    import errno

    from seqgen.app.cli import run

    def refuse(code, name="out/run/metrics.jsonl"):
        raise OSError(code, os.strerror(code), name)

    for code in (errno.EACCES, errno.EROFS, errno.ENOSPC):
        with pytest.raises(SystemExit) as e:
            run(refuse, code)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: out/run/metrics.jsonl: ")
    with pytest.raises(OSError):
        run(refuse, errno.EBADF)
    with pytest.raises(PermissionError):
        run(refuse, errno.EACCES, None)           # no file named: a bug of ours, keep the traceback
