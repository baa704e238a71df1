"""What a prepared dataset was made from, in a form two runs can compare: the data config plus the
content of every local input (files by their bytes, image folders by every file's name, size and
modification time). Its hash names the prepared folder, so edited inputs are prepared anew, and a
checkpoint records it, so a resume on edited data is refused with what changed."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

FULL_HASH_LIMIT = 64 * 2**20   # files up to 64 MiB are hashed whole; larger ones by size, mtime, head, tail
# caps that only refuse oversized inputs, never change what is prepared: left out of the identity, so
# raising one keeps the prepared folder and the resume check
LIMIT_KEYS = ("max_pixels", "max_clip_pixels")


def file_digest(path) -> str:
    """'<bytes> bytes, sha256 <12 hex>' of a file's content (head + tail + size + mtime past 64 MiB)."""
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256()
    with open(p, "rb") as f:
        if st.st_size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        else:
            h.update(f.read(1 << 20))
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{st.st_size:,} bytes, sha256 {h.hexdigest()[:12]}"


def folder_digest(folder) -> str:
    """'<n> files, sha256 <12 hex>' over every file's relative name, size and mtime (and the bytes
    of small text files such as metadata.jsonl, whose edits may keep the size)."""
    root = Path(folder)
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        if p.suffix in (".jsonl", ".json", ".txt", ".csv") and st.st_size < 2**20:
            h.update(p.read_bytes())
    return f"{len(files)} files, sha256 {h.hexdigest()[:12]}"


def identity(cfg, files: dict | None = None, folders: dict | None = None, **extra) -> dict:
    """{'config': hash of the data config (a dataclass or its dict), '<key>': digest of each local
    input, **extra}."""
    # left out: caps (LIMIT_KEYS) and a config's UNHASHED_KEYS always, its UNHASHED_DEFAULTS (keys newer
    # than old checkpoints and prepared folders) while they hold their defaults
    drop = set(LIMIT_KEYS) | set(getattr(cfg, "UNHASHED_KEYS", ()))
    later = getattr(cfg, "UNHASHED_DEFAULTS", {})
    state = {k: v for k, v in (cfg if isinstance(cfg, dict) else asdict(cfg)).items()
             if k not in drop and not (k in later and v == later[k])}
    out = {"config": hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:12]}
    for key, path in (files or {}).items():
        if path:
            p = Path(str(path)).expanduser().resolve()
            out[key] = f"{p}: {file_digest(p)}" if p.is_file() else f"{p}: missing"
    for key, path in (folders or {}).items():
        if path:
            p = Path(str(path)).expanduser().resolve()
            out[key] = f"{p}: {folder_digest(p)}" if p.is_dir() else f"{p}: missing"
    out.update({k: str(v) for k, v in extra.items()})
    return out


def fingerprint(ident: dict) -> str:
    """10 hex characters naming a prepared folder."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]
