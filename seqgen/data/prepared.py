"""The prepared text format, read side: `PreparedData` over `{split}.bin` + `meta.json` (+ the
tokenizer and line index), `load_prepared`, `write_meta`, and the identity that names a folder.
See docs/architecture.md, "Prepared text data"; `seqgen.data.prepare` writes it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.errors import DataError
from seqgen.data.identity import file_digest, identity
from seqgen.data.lines import line_spans
from seqgen.data.tokenizer import Tokenizer


@dataclass
class PreparedData:
    dir: Path
    tokenizer: Tokenizer
    meta: dict

    def split_path(self, split: str) -> Path:
        if self.meta["tokens"].get(split, 0) == 0:
            raise DataError(f"dataset in {self.dir} has no '{split}' split "
                            f"(splits with tokens: {[s for s, n in self.meta['tokens'].items() if n]})")
        return self.dir / f"{split}.bin"

    def tokens(self, split: str) -> np.ndarray:
        return np.memmap(self.split_path(split), dtype=self.meta["dtype"], mode="r")

    def lines(self, split: str, blank: bool = False):
        """(starts, ends) token positions of the split's lines (seqgen.data.lines), or None when this
        folder has no line index (BPE, data=tokens, or prepared before there was one)."""
        info = self.meta.get("lines", {}).get(split)
        if info is None or not (self.dir / f"{split}.lines").is_file():
            return None
        return line_spans(self.dir / f"{split}.lines", info, blank)

    def chars_per_token(self, split: str) -> float:
        return self.meta["chars"][split] / max(1, self.meta["tokens"][split])



def id_dtype(vocab_size: int) -> str:
    """The dtype of a prepared `{split}.bin`: uint16 when every id fits (nanoGPT's train.bin), else uint32."""
    return "uint16" if vocab_size < 2**16 else "uint32"


def data_identity(cfg) -> dict:
    """The config and, for local files (or every file a glob matches), their content (seqgen.data.identity)."""
    files, globs = {}, {}
    for k in ("train", "valid", "test"):
        pattern = getattr(cfg, k)
        if pattern and glob.has_magic(os.path.expanduser(str(pattern))):
            matched = sorted(glob.glob(os.path.expanduser(str(pattern)), recursive=True))
            digests = "\n".join(f"{Path(f).resolve()}: {file_digest(f)}" for f in matched if Path(f).is_file())
            globs[f"data.{k}"] = (f"{pattern}: {digests.count(chr(10)) + bool(digests)} files, "
                                  f"sha256 {hashlib.sha256(digests.encode()).hexdigest()[:12]}")
        else:
            files[f"data.{k}"] = pattern
    return identity(cfg, files=files, **globs)


def load_prepared(path) -> PreparedData:
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{path} is not a prepared dataset (no meta.json)")
    meta = json.loads(meta_path.read_text())
    itemsize = np.dtype(meta["dtype"]).itemsize
    for split, n in meta["tokens"].items():
        f = path / f"{split}.bin"
        if n and (not f.is_file() or f.stat().st_size != n * itemsize):
            raise DataError(f"{f}: {f.stat().st_size if f.is_file() else 'no'} bytes where meta.json says "
                            f"{n} {meta['dtype']} tokens ({n * itemsize} bytes); delete {path} to prepare it again")
    tok = path / "tokenizer.json"
    return PreparedData(path, Tokenizer.load(tok) if tok.is_file() else None, meta)


def write_meta(out: Path, meta: dict) -> None:
    """meta.json last, written whole under a temporary name and renamed: its presence means done."""
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta.json")
