"""data=tokens: ids tokenized elsewhere, made into a prepared dataset (`{split}.bin` + `meta.json`).

Two formats, told apart by their first four bytes (or data.token_format):
- nanoGPT (`data/openwebtext/prepare.py`): raw uint16 ids, nothing else (`train.bin`, `val.bin`);
- modded-nanogpt FineWeb shards (`fineweb_train_000001.bin`): a header of 256 int32 — magic 20240520,
  version 1, the token count — then that many uint16 ids.
A split may be a glob of shards (read in sorted order). The ids are checked (every one below the
vocabulary size) and copied into the prepared folder chunk by chunk, so memory stays bounded by a
chunk; a headerless single file is hard-linked instead when the file system allows.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as HFTokenizer

from seqgen.core.errors import DataError
from seqgen.data.identity import file_digest, fingerprint
from seqgen.data.prepared import PreparedData, data_identity, load_prepared, write_meta
from seqgen.data.sources import _glob
from seqgen.data.tokenizer import IdsTokenizer

MAGIC, VERSION, HEADER_INTS = 20240520, 1, 256
CHUNK = 1 << 24   # ids checked / copied at a time (32 MB of uint16)


def shard_ids(path: Path, key: str, fmt: str = "auto") -> tuple[int, int]:
    """(byte offset of the first id, number of ids) of one file; a clear error for a bad header."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEADER_INTS * 4)
    magic = int(np.frombuffer(head[:4], np.int32)[0]) if len(head) >= 4 else None
    if fmt == "fineweb" or (fmt == "auto" and magic == MAGIC):
        if magic != MAGIC or len(head) < HEADER_INTS * 4:
            raise DataError(f"{key}={path}: not a modded-nanogpt FineWeb shard (magic number {magic}, expected "
                            f"{MAGIC}); for raw uint16 ids (nanoGPT's train.bin) set data.token_format=nanogpt")
        header = np.frombuffer(head, np.int32)
        if header[1] != VERSION:
            raise DataError(f"{key}={path}: FineWeb shard version {header[1]}, expected {VERSION}")
        n = int(header[2])
        if size != HEADER_INTS * 4 + 2 * n:
            raise DataError(f"{key}={path}: the header says {n} tokens ({HEADER_INTS * 4 + 2 * n} bytes) but the "
                            f"file has {size} bytes (truncated or not a shard)")
        return HEADER_INTS * 4, n
    if size % 2:
        raise DataError(f"{key}={path}: {size} bytes is an odd byte count; a nanoGPT .bin holds uint16 ids "
                        f"(2 bytes each)")
    return 0, size // 2


def _files(pattern, key: str) -> list[Path]:
    return _glob(pattern, key)


def vocab_size_of(cfg) -> tuple[int, object]:
    """(vocabulary size, HF tokenizer or None) from data.vocab_size and / or data.tokenizer_json."""
    hf = None
    if cfg.tokenizer_json:
        p = Path(str(cfg.tokenizer_json)).expanduser()
        if not p.is_file():
            raise DataError(f"data.tokenizer_json={cfg.tokenizer_json}: file not found (expected a Hugging Face "
                            f"tokenizer.json)")
        try:
            hf = HFTokenizer.from_file(str(p))
        except Exception as e:
            raise DataError(f"data.tokenizer_json={cfg.tokenizer_json}: not a tokenizer.json ({e})") from None
    if cfg.vocab_size is None and hf is None:
        raise DataError("data=tokens needs the vocabulary size: set data.vocab_size (e.g. 50257 for GPT-2 ids) "
                        "or data.tokenizer_json (a tokenizer.json to read it from)")
    size = cfg.vocab_size if cfg.vocab_size is not None else hf.get_vocab_size()
    if hf is not None and size < hf.get_vocab_size():
        raise DataError(f"data.vocab_size={size} is smaller than the {hf.get_vocab_size()} tokens of "
                        f"data.tokenizer_json={cfg.tokenizer_json}")
    if size > 2**16:
        raise DataError(f"data.vocab_size={size}: uint16 token files hold ids below 65536")
    return size, hf


def _copy_checked(files: list[Path], key: str, fmt: str, vocab: int, dest: Path, skip: int = 0,
                  limit: int | None = None) -> int:
    """Append the ids of files (after `skip`, at most `limit`) to dest, checking each is < vocab."""
    n_out = 0
    with open(dest, "ab") as out:
        for path in files:
            offset, n = shard_ids(path, key, fmt)
            ids = np.memmap(path, dtype=np.uint16, mode="r", offset=offset, shape=(n,)) if n else np.zeros(0, np.uint16)
            for lo in range(0, n, CHUNK):
                chunk = ids[lo:lo + CHUNK]
                bad = np.flatnonzero(chunk >= vocab)
                if bad.size:
                    i = int(bad[0])
                    raise DataError(f"{key}={path}: token id {int(chunk[i])} at position {lo + i} is outside the "
                                    f"vocabulary (data.vocab_size={vocab}); is this the right vocabulary?")
            lo = min(skip, n)                      # ids of this file before `skip` are not copied
            skip -= lo
            take = n - lo if limit is None else min(n - lo, limit - n_out)
            if take > 0:
                out.write(memoryview(np.ascontiguousarray(ids[lo:lo + take])).cast("B"))
                n_out += take
    return n_out


def tokens_dir(cfg, data_root) -> tuple[Path, dict]:
    """(prepared folder, identity): the config plus every token file's and the tokenizer.json's digest."""
    ident = data_identity(cfg)
    if cfg.tokenizer_json:
        p = Path(str(cfg.tokenizer_json)).expanduser().resolve()
        ident["data.tokenizer_json"] = f"{p}: {file_digest(p)}" if p.is_file() else f"{p}: missing"
    return Path(data_root).expanduser() / f"tokens-{fingerprint(ident)}", ident


def prepare_tokens(cfg, data_root, verbose: bool = True):
    """The prepared folder for data=tokens (made once per inputs' identity, like text preparation)."""
    out, ident = tokens_dir(cfg, data_root)
    if (out / "meta.json").is_file():
        return load_prepared(out)
    vocab, hf = vocab_size_of(cfg)
    given = {s: _files(getattr(cfg, k), f"data.{k}") for s, k in
             (("train", "train"), ("valid", "valid"), ("test", "test")) if getattr(cfg, k)}
    if "train" not in given:
        raise DataError("data=tokens needs data.train: a token file or a glob of shards (nanoGPT train.bin, "
                        "modded-nanogpt fineweb_train_*.bin)")
    counts = {s: sum(shard_ids(f, f"data.{s}", cfg.token_format)[1] for f in fs) for s, fs in given.items()}
    if verbose:
        print(f"[seqgen] preparing pre-tokenized ids {counts} (vocab {vocab}) into {out}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.bin"), *out.glob("*.tmp")]:
        stale.unlink()
    meta = {"dataset": "tokens", "tokenizer": "ids", "vocab_size": vocab, "dtype": "uint16", "tokens": {},
            "chars": {}, "config": asdict(cfg), "identity": ident}
    n_train = counts["train"]
    if "valid" not in given:                       # carve the last valid_frac of train's ids
        n_train = n_train - int(n_train * cfg.valid_frac)
    for split in ("train", "valid", "test"):
        dest = out / f"{split}.bin"
        dest.touch()
        if split == "valid" and "valid" not in given:
            n = _copy_checked(given["train"], "data.train", cfg.token_format, vocab, dest, skip=n_train)
        elif split in given:
            files = given[split]
            single = len(files) == 1 and shard_ids(files[0], f"data.{split}", cfg.token_format)[0] == 0
            if single and split != "train" or single and n_train == counts["train"]:
                _copy_checked(files, f"data.{split}", cfg.token_format, vocab, os.devnull)   # check ids only
                n = counts[split]
                _link_or_copy(files[0], dest)
            else:
                n = _copy_checked(files, f"data.{split}", cfg.token_format, vocab, dest,
                                  limit=n_train if split == "train" else None)
        else:
            n = 0
        meta["tokens"][split], meta["chars"][split] = n, 0     # characters unknown: no bits per character
    if meta["tokens"]["train"] < 2:
        raise DataError(f"data.train={cfg.train}: {meta['tokens']['train']} tokens; need at least 2")
    tok = IdsTokenizer(vocab, hf)
    tok.save(out / "tokenizer.json")
    write_meta(out, meta)
    return PreparedData(out, tok, meta)


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
