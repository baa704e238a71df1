"""The on-disk ∞-gram index: per shard a token file and a suffix array of fixed-width pointers, both
memory-mapped, so an index larger than RAM is queried from the page cache.

Layout of an index folder (infini-gram's, with our names):
    index.json          format, dtype, separator, boundary id, vocabulary size, one record per shard
    tokens.<s>.bin      (T,) uint16 (uint32 when the vocabulary needs it) little-endian token ids; every
                        document is preceded by the separator (the dtype's maximum) and the shard ends with
                        one: SEP d1 SEP d2 ... SEP dk SEP. A boundary token of the prepared file (the
                        newline with documents=line) *becomes* the separator, so no match crosses a line.
    table.<s>.bin       (T * W,) bytes: suffix array, position of the i-th smallest suffix as W
                        little-endian bytes, W = ceil(log2(T + 1) / 8) (3 for T < 16.7M tokens)
    docs.<s>.bin        (D,) uint32 / uint64: position of the separator opening each document
    fence.<s>.bin       (ceil(T / 64),) int64: the first tokens of every 64th suffix, packed (kernels.key_of);
                        binary searches start there, in cache, and end in a block of 64 pointers.
                        Optional: an index built before it existed is searched without it.
Bytes per token: 2 (tokens) + W (pointers) + 1/8 (fences) + a few % for separators and document offsets.

Suffixes compare token by token as integers; the separator is the largest id, and a suffix that is a
prefix of another sorts first (end of shard). pydivsufsort sorts the big-endian bytes of the tokens and
keeps the suffixes that start on a token: big-endian byte order is integer order, so the result is the
token-level suffix array.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.errors import DataError
from seqgen.families.infgram.kernels import FENCE, fence_keys, token_pointers

FORMAT = "seqgen-infgram-1"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id and the separator (the maximum) fit, else uint32."""
    return np.dtype("<u2") if vocab_size <= 0xFFFF else np.dtype("<u4")


def ptr_width(n: int) -> int:
    """Bytes per suffix-array pointer for a shard of n tokens (infini-gram's ceil(log2(n + 1) / 8))."""
    return max(1, math.ceil(math.log2(n + 1) / 8))


def _shard_cuts(tokens: np.ndarray, boundary: int | None, shard_tokens: int) -> list[tuple[int, int]]:
    """[(a, b)] token ranges of the input, each ending just after a boundary token where possible."""
    n = len(tokens)
    cuts, a = [], 0
    while a < n:
        b = min(n, a + shard_tokens)
        if b < n and boundary is not None:   # end the shard at the last boundary inside it
            window = np.asarray(tokens[a:b])
            last = np.flatnonzero(window == boundary)
            if len(last):
                b = a + int(last[-1]) + 1
        cuts.append((a, b))
        a = b
    return cuts


def _write_shard(out: Path, s: int, arr: np.ndarray) -> dict:
    """tokens / table / fence / docs files of one shard; returns its record for index.json.
    divsufsort sorts the big-endian bytes of the tokens (big-endian byte order is integer order); one
    compiled pass keeps the suffixes starting on a token and writes them as W-byte pointers."""
    n = len(arr)
    sep = np.iinfo(arr.dtype).max
    w = ptr_width(n)
    # imported here: loading the registry (every family) needs no native suffix sorter, only a build does
    from pydivsufsort import divsufsort

    raw = divsufsort(arr.astype(f">u{arr.dtype.itemsize}").view(np.uint8))   # byte-level SA, int32 / int64
    table = np.empty(n * w, np.uint8)
    starts = np.empty((n + FENCE - 1) // FENCE, np.int64)
    kept = token_pointers(raw, arr.dtype.itemsize, w, table, starts)
    assert kept == n, "suffix array length differs from the token count"
    del raw
    arr.tofile(out / f"tokens.{s}.bin")
    table.tofile(out / f"table.{s}.bin")
    fence = fence_keys(arr, starts)
    fence.astype("<i8").tofile(out / f"fence.{s}.bin")
    docs = np.flatnonzero(arr[:-1] == sep)
    off_dtype = "<u4" if n < 2**32 else "<u8"
    docs.astype(off_dtype).tofile(out / f"docs.{s}.bin")
    return {"tokens": int(n), "docs": int(len(docs)), "ptr_bytes": w, "doc_dtype": off_dtype,
            "fence_every": FENCE, "fences": int(len(fence))}


def build(tokens: np.ndarray, out, vocab_size: int, boundary: int | None, shard_tokens: int,
          verbose: bool = True) -> dict:
    """Index `tokens` (a memmap of the prepared train split) into folder `out`; returns index.json's dict.
    boundary: the id whose every occurrence ends a document (replaced by the separator), None: the file
    is one document. Shards are built one at a time: peak memory ~ 14 bytes x shard_tokens (uint16)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").unlink(missing_ok=True)   # written last: a half-built folder is not an index
    dtype = token_dtype(vocab_size)
    sep = int(np.iinfo(dtype).max)
    if boundary is not None and not 0 <= boundary < vocab_size:
        raise DataError(f"boundary id {boundary} is outside the vocabulary (size {vocab_size})")
    t0 = time.perf_counter()
    shards = []
    for s, (a, b) in enumerate(_shard_cuts(tokens, boundary, shard_tokens)):
        body = np.asarray(tokens[a:b]).astype(dtype)
        if body.size and int(body.max()) >= vocab_size:
            raise DataError(f"token id {int(body.max())} in the token file is outside the vocabulary "
                            f"(size {vocab_size}): the file and its tokenizer do not match")
        if boundary is not None:
            body[body == boundary] = sep
        tail = [] if (body.size and body[-1] == sep) else [sep]
        arr = np.concatenate([np.array([sep], dtype), body, np.array(tail, dtype)])
        shards.append(_write_shard(out, s, arr))
        if verbose:
            print(f"[seqgen] infgram shard {s}: {len(arr):,} tokens, {shards[-1]['docs']:,} documents", flush=True)
    meta = {"format": FORMAT, "dtype": dtype.str, "separator": sep, "boundary": boundary,
            "vocab_size": int(vocab_size), "shards": shards, "build_seconds": time.perf_counter() - t0,
            "source_tokens": int(len(tokens))}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "index.json")
    return meta


@dataclass
class Shard:
    tok: np.ndarray    # (T,) token ids, separators included
    sa: np.ndarray     # (T * W,) uint8 pointer bytes
    w: int             # bytes per pointer
    docs: np.ndarray   # (D,) positions of the separator opening each document
    fk: np.ndarray     # (ceil(T / FENCE),) int64 fence keys; (0,): none (an older index)

    @property
    def args(self) -> tuple:
        """The leading arguments of every kernel: tok, sa, w, fk."""
        return self.tok, self.sa, self.w, self.fk


def _map(path: Path, dtype, count: int) -> np.ndarray:
    """A read-only memmap of exactly `count` items, or a DataError naming the file and the sizes."""
    if not path.is_file():
        raise DataError(f"∞-gram index file {path} is missing: rebuild the index (scripts/train.py model=infgram)")
    want = count * np.dtype(dtype).itemsize
    have = path.stat().st_size
    if have != want:
        raise DataError(f"∞-gram index file {path} has {have:,} bytes, expected {want:,} "
                        f"({'truncated' if have < want else 'too long'}): rebuild the index")
    if count == 0:
        return np.zeros(0, dtype)
    return np.asarray(np.memmap(path, dtype=dtype, mode="r", shape=(count,)))


def open_index(folder) -> tuple[dict, list[Shard]]:
    """(index.json dict, shards) of an index folder, every file size checked."""
    folder = Path(folder)
    meta_path = folder / "index.json"
    if not meta_path.is_file():
        raise DataError(f"{folder} is not an ∞-gram index (no index.json; a build that did not finish?)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    shards = []
    for s, r in enumerate(meta["shards"]):
        if r.get("fence_every", FENCE) != FENCE:
            raise DataError(f"{meta_path}: shard {s} has a fence every {r['fence_every']} suffixes, this "
                            f"seqgen reads {FENCE}: rebuild the index")
        fk = (_map(folder / f"fence.{s}.bin", "<i8", r["fences"]) if "fences" in r else np.zeros(0, np.int64))
        shards.append(Shard(tok=_map(folder / f"tokens.{s}.bin", meta["dtype"], r["tokens"]),
                            sa=_map(folder / f"table.{s}.bin", np.uint8, r["tokens"] * r["ptr_bytes"]),
                            w=r["ptr_bytes"], docs=_map(folder / f"docs.{s}.bin", r["doc_dtype"], r["docs"]),
                            fk=fk))
    return meta, shards
