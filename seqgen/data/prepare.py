"""Offline preparation: raw text -> tokenizer + flat token files (`{split}.bin`) + `meta.json`.

Prepared once per (dataset, tokenizer settings, input files) fingerprint under `<data_root>/`;
later runs reuse the files. `meta.json` is written last, so a half-written folder is redone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqgen.core.errors import DataError
from seqgen.core.schema import key
from seqgen.data.identity import fingerprint, identity
from seqgen.data.sources import load_splits
from seqgen.data.tokenizer import Tokenizer, fit_tokenizer

SPLITS = ("train", "valid", "test")


@dataclass
class DataConfig:
    name: str = "shakespeare_char"   # catalog name, or text_files / hf
    tokenizer: str = key("char", choices=("char", "word", "bpe"))
    # text_files: local UTF-8 files (valid / test optional: valid is carved from train when absent)
    train: str | None = None
    valid: str | None = None
    test: str | None = None
    # hf: any Hugging Face dataset (hub id or local folder), config and text column
    hf_name: str | None = None
    hf_config: str | None = None
    column: str = "text"
    train_split: str = "train"
    valid_split: str = "validation"
    test_split: str = "test"
    # single-file corpora split contiguously: train | valid | test (test = the rest)
    train_frac: float = key(0.9, gt=0, le=1)
    valid_frac: float = key(0.1, ge=0, lt=1)
    # tokenizer options
    min_count: int = key(1, ge=1)    # word: keep words seen at least this often
    max_vocab: int | None = key(None, ge=2)   # word: cap on the vocabulary size (incl. <unk>)
    word_split: str = key("words", choices=("words", "whitespace"))   # words: punctuation apart, line breaks kept
    lowercase: bool = False
    bpe_vocab_size: int = key(1024, ge=256)

    kind = "text"

    @staticmethod
    def names() -> list[str]:
        """Valid data.name values: the packaged corpora, local files, any Hugging Face dataset."""
        from seqgen.data.sources import CATALOG

        return sorted(CATALOG) + ["text_files", "hf"]


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

    def chars_per_token(self, split: str) -> float:
        return self.meta["chars"][split] / max(1, self.meta["tokens"][split])


def pick_split(available: list[str], split: str, where) -> str:
    """split=auto: test when the dataset has one, else valid; a named split must exist."""
    from seqgen.core.errors import ConfigError

    if split == "auto":
        return "test" if "test" in available else "valid"
    if split not in available:
        raise ConfigError(f"split={split!r}: the dataset of {where} has splits {available}")
    return split


def data_identity(cfg: DataConfig) -> dict:
    """The config and, for local files, their content (seqgen.data.identity)."""
    return identity(cfg, files={f"data.{k}": getattr(cfg, k) for k in ("train", "valid", "test")})


def prepared_dir(cfg: DataConfig, data_root) -> Path:
    return Path(data_root).expanduser() / f"{cfg.name}-{cfg.tokenizer}-{fingerprint(data_identity(cfg))}"


def load_prepared(path) -> PreparedData:
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{path} is not a prepared dataset (no meta.json)")
    meta = json.loads(meta_path.read_text())
    return PreparedData(path, Tokenizer.load(path / "tokenizer.json"), meta)


def prepare(cfg: DataConfig, data_root, verbose: bool = True) -> PreparedData:
    """Prepare `cfg` under data_root once; return the prepared dataset."""
    ident = data_identity(cfg)
    out = Path(data_root).expanduser() / f"{cfg.name}-{cfg.tokenizer}-{fingerprint(ident)}"
    if (out / "meta.json").is_file():
        return load_prepared(out)
    if verbose:
        print(f"[seqgen] preparing dataset '{cfg.name}' ({cfg.tokenizer} tokens) into {out}", flush=True)
    texts = load_splits(cfg, Path(data_root).expanduser() / "raw")
    if not texts["train"].strip():
        raise DataError(f"dataset '{cfg.name}': the train split is empty")
    # char vocabularies cover every split (nanoGPT's convention: a character set is no leak);
    # word and BPE vocabularies are fitted on train only
    fit_on = [t for t in texts.values() if t] if cfg.tokenizer == "char" else [texts["train"]]
    tok = fit_tokenizer(cfg.tokenizer, fit_on, min_count=cfg.min_count, max_vocab=cfg.max_vocab,
                        split=cfg.word_split, lowercase=cfg.lowercase, vocab_size=cfg.bpe_vocab_size)
    dtype = "uint16" if tok.vocab_size < 2**16 else "uint32"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": cfg.name, "tokenizer": cfg.tokenizer, "vocab_size": tok.vocab_size,
            "dtype": dtype, "tokens": {}, "chars": {}, "config": asdict(cfg), "identity": ident}
    for split in SPLITS:
        ids = np.array(_encode(tok, texts[split]), dtype=dtype)
        ids.tofile(out / f"{split}.bin")
        meta["tokens"][split] = int(ids.size)
        meta["chars"][split] = len(texts[split])
    if meta["tokens"]["train"] < 2:
        raise DataError(f"dataset '{cfg.name}': the train split has {meta['tokens']['train']} tokens; "
                        f"need at least 2")
    tok.save(out / "tokenizer.json")
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta.json")
    if verbose:
        print(f"[seqgen] vocab {tok.vocab_size}, tokens {meta['tokens']}", flush=True)
    return PreparedData(out, tok, meta)


def _encode(tok: Tokenizer, text: str) -> list[int]:
    if not text:
        return []
    if tok.kind != "bpe":
        return tok.encode(text)
    # BPE: encode ~1 MB chunks cut at line starts, in parallel; byte-level pre-tokenisation never
    # merges across a line break, so chunking changes nothing
    chunks, start, step = [], 0, 1 << 20
    while start < len(text):
        end = text.find("\n", start + step)
        end = len(text) if end < 0 else end + 1
        chunks.append(text[start:end])
        start = end
    return [i for enc in tok.hf.encode_batch(chunks) for i in enc.ids]
