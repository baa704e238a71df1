"""torch.save for checkpoints whose tensors are maps of files larger than memory (the budgeted n-gram's
tables): the same zip torch.save writes, without faulting every mapped page into the process.

torch.save copies each storage from its memory; for a file-backed map that makes every page of the
file resident, and those pages count in RSS until the kernel reclaims them. Here the file is written
in two passes: `torch.save` under `torch.serialization.skip_data()` (torch's own way to write the
structure and reserve each storage's bytes, filled "in a separate pass"), then every storage's bytes
copied into its record with plain reads and writes - from the mapped file itself when the storage
lies in a file mapping (found in /proc/self/maps), else from memory - and each record's CRC-32
written into the zip's headers, so the result is the file torch.save would have written, byte for
byte in its records. `torch.load` reads it as any other checkpoint.
"""

from __future__ import annotations

import bisect
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

COPY = 1 << 24          # bytes per read / write while filling a record


def file_mappings() -> list[tuple[int, int, int, str]]:
    """(start, end, file offset, path) of the process's file-backed mappings (Linux; [] elsewhere)."""
    try:
        text = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[4] != "0" and parts[5].startswith("/"):
            a, b = (int(x, 16) for x in parts[0].split("-"))
            out.append((a, b, int(parts[2], 16), parts[5].removesuffix(" (deleted)")))
    return sorted(out)


def mapped_source(ptr: int, size: int, maps) -> tuple[str, int] | None:
    """(path, offset) of the file a storage at [ptr, ptr + size) is a map of, or None."""
    i = bisect.bisect_right([m[0] for m in maps], ptr) - 1
    if i < 0:
        return None
    a, b, off, path = maps[i]
    return (path, off + ptr - a) if ptr + size <= b and os.path.isfile(path) else None


def storages(obj, out: list) -> list:
    """Every tensor's storage in a nested dict / list / tuple, in traversal order."""
    if isinstance(obj, torch.Tensor):
        out.append(obj.untyped_storage())
    elif isinstance(obj, dict):
        for v in obj.values():
            storages(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            storages(v, out)
    return out


def needs_streaming(state: dict, min_bytes: int = 1 << 26) -> bool:
    """Whether any storage of at least min_bytes is a map of a file (a plain torch.save would fault it in)."""
    maps = file_mappings()
    return bool(maps) and any(s.nbytes() >= min_bytes and mapped_source(s.data_ptr(), s.nbytes(), maps)
                              for s in storages(state, []))


def save(state: dict, path: Path) -> None:
    """Write `state` to path as torch.save does, copying mapped storages from their files."""
    path = Path(path)
    with torch.serialization.skip_data():
        torch.save(state, path)
    # where each storage's bytes go: the same structure loaded as a map of the new file; a storage's
    # record offset is its distance from the lowest storage plus that storage's record offset
    loaded = torch.load(path, mmap=True, weights_only=True)
    src, dst = storages(state, []), storages(loaded, [])
    if len(src) != len(dst):
        raise RuntimeError("streamed save: the reloaded structure differs from the saved one")
    with zipfile.ZipFile(path) as z:
        records = {i.filename.split("/data/", 1)[1]: i for i in z.infolist() if "/data/" in i.filename
                   and not i.filename.rsplit("/", 1)[-1].startswith(".")}
        start_dir = z.start_dir
    offsets = {_data_offset(path, i): i for i in records.values()}
    pairs = [(s, d) for s, d in zip(src, dst) if s.nbytes()]
    if not pairs:
        return
    base = min(d.data_ptr() for _, d in pairs) - min(offsets)
    maps, crcs, done = file_mappings(), {}, set()
    with open(path, "r+b") as f:
        for s, d in pairs:
            off = d.data_ptr() - base
            info = offsets.get(off)
            if info is None or info.file_size != s.nbytes():
                raise RuntimeError(f"streamed save: no record of {s.nbytes()} bytes at offset {off}")
            if off in done:            # a storage shared by two tensors: one record
                continue
            done.add(off)
            crcs[info.filename] = _copy(s, f, off, maps)
    _write_crcs(path, records.values(), crcs, start_dir)


def _data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) record's bytes start: after its local header, name and extra."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
    n, e = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + n + e


def _copy(storage, f, off: int, maps) -> int:
    """Copy one storage's bytes to file offset `off`; returns their CRC-32."""
    size, crc = storage.nbytes(), 0
    source = mapped_source(storage.data_ptr(), size, maps)
    if source is not None:
        with open(source[0], "rb") as g:
            for i in range(0, size, COPY):
                g.seek(source[1] + i)
                buf = g.read(min(COPY, size - i))
                crc = zlib.crc32(buf, crc)
                f.seek(off + i)
                f.write(buf)
        return crc
    raw = torch.empty(0, dtype=torch.uint8).set_(storage).numpy()
    for i in range(0, size, COPY):
        buf = np.ascontiguousarray(raw[i:i + COPY]).data
        crc = zlib.crc32(buf, crc)
        f.seek(off + i)
        f.write(buf)
    return crc


def _write_crcs(path: Path, infos, crcs: dict, start_dir: int) -> None:
    """Each filled record's CRC-32 into its local header (offset 14) and its central directory entry
    (offset 16), so zip tools find the archive sound."""
    by_name = {i.filename: i for i in infos}
    with open(path, "r+b") as f:
        for name, crc in crcs.items():
            f.seek(by_name[name].header_offset + 14)
            f.write(struct.pack("<I", crc))
        f.seek(start_dir)
        while True:
            pos = f.tell()
            head = f.read(46)
            if len(head) < 46 or head[:4] != b"PK\x01\x02":
                break
            n, e, c = struct.unpack("<HHH", head[28:34])
            name = f.read(n).decode("utf-8")
            if name in crcs:
                f.seek(pos + 16)
                f.write(struct.pack("<I", crcs[name]))
            f.seek(pos + 46 + n + e + c)
