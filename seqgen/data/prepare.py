"""Offline preparation: raw text -> tokenizer + flat token files (`{split}.bin`) + `meta.json`.

Prepared once per (dataset, tokenizer settings, input files) fingerprint under `<data_root>/`;
later runs reuse the files. The format (docs/architecture.md, "Prepared text data"): `{split}.bin`
is the split's ids, native byte order, `meta["dtype"]` (uint16 when the vocabulary fits, else
uint32), `meta["tokens"][split]` of them; `tokenizer.json`; `meta.json` written last under a
temporary name and renamed, so a folder without it (a killed preparation) is redone, never read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.core.sizes import parse_size
from seqgen.data import word_pass
from seqgen.data.identity import fingerprint
from seqgen.data.lines import LineWriter
from seqgen.data.prepared import PreparedData, data_identity, id_dtype, load_prepared, write_meta  # noqa: F401 (re-exported)
from seqgen.data.sources import CATALOG, stream_splits
from seqgen.data.stream import aligned_chunks
from seqgen.data.tokenizer import fit_tokenizer
from seqgen.data.tokens import prepare_tokens, tokens_dir

SPLITS = ("train", "valid", "test")
CHUNK = 1 << 20      # characters per encoded chunk (cut at a tokenizer-safe border)
BPE_CHUNK = 1 << 17  # BPE: smaller chunks, as tokenizers' Encoding objects cost ~100 bytes a token
BPE_BATCH = 16       # chunks per tokenizers encode_batch call (spread over every core)


@dataclass
class DataConfig:
    name: str = "shakespeare_char"   # catalog name, or text_files / hf / tokens
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
    # big corpora: hf rows read with datasets' streaming mode (nothing downloaded whole); word / BPE
    # vocabularies fitted on the first tokenizer_sample of train (a size: 100M, 1G; null = all of it)
    streaming: bool = False
    tokenizer_sample: str | int | None = None
    # data=tokens: pre-tokenized files (nanoGPT's raw uint16 train.bin / val.bin, modded-nanogpt's
    # FineWeb shards with their 256-int32 header); train / valid / test name the files (globs allowed)
    vocab_size: int | None = key(None, ge=2)      # the vocabulary size, or read from tokenizer_json
    tokenizer_json: str | None = None             # a Hugging Face tokenizer.json (decodes samples too)
    token_format: str = key("auto", choices=("auto", "nanogpt", "fineweb"))

    kind = "text"
    # left out of the data identity (seqgen.data.identity): streaming changes how the text is read,
    # not the ids; the later keys only at their defaults, so folders prepared before them keep their names
    UNHASHED_KEYS = ("streaming",)
    UNHASHED_DEFAULTS = {"tokenizer_sample": None, "vocab_size": None, "tokenizer_json": None, "token_format": "auto"}

    @staticmethod
    def names() -> list[str]:
        """Valid data.name values: the packaged corpora, local files, any Hugging Face dataset."""
        return sorted(CATALOG) + ["text_files", "hf", "tokens"]

    def prepare_into(self, data_root) -> str:
        """Tokenize the corpus into data_root now (train.py does it on first use) -> what was done."""
        return f"prepared: {prepare(self, data_root).dir}"


def pick_split(available: list[str], split: str, where) -> str:
    """split=auto: test when the dataset has one, else valid; a named split must exist."""
    if split == "auto":
        return "test" if "test" in available else "valid"
    if split not in available:
        raise ConfigError(f"split={split!r}: the dataset of {where} has splits {available}")
    return split


def prepared_dir(cfg: DataConfig, data_root) -> Path:
    if cfg.name == "tokens":
        return tokens_dir(cfg, data_root)[0]
    return Path(data_root).expanduser() / f"{cfg.name}-{cfg.tokenizer}-{fingerprint(data_identity(cfg))}"


def prepare(cfg: DataConfig, data_root, verbose: bool = True, chunk_size: int = CHUNK) -> PreparedData:
    """Prepare `cfg` under data_root once; return the prepared dataset.

    Streams: each split is read in blocks, re-cut at tokenizer-safe borders into chunks of about
    chunk_size characters, encoded and appended to `{split}.bin`; memory is bounded by a chunk (and the
    vocabulary), never by the corpus. The ids equal those of encoding each split whole.
    """
    if cfg.name == "tokens":
        return prepare_tokens(cfg, data_root, verbose)
    ident = data_identity(cfg)
    out = Path(data_root).expanduser() / f"{cfg.name}-{cfg.tokenizer}-{fingerprint(ident)}"
    if (out / "meta.json").is_file():
        return load_prepared(out)
    if verbose:
        print(f"[seqgen] preparing dataset '{cfg.name}' ({cfg.tokenizer} tokens) into {out}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.bin"), *out.glob("*.lines"), *out.glob("hf-*.txt"), *out.glob("*.tmp")]:
        stale.unlink()                           # what a killed preparation left: never reused
    splits = stream_splits(cfg, Path(data_root).expanduser() / "raw", out)
    if not any(b.strip() for b in splits["train"].blocks()):
        raise DataError(f"dataset '{cfg.name}': the train split is empty")
    if cfg.tokenizer == "bpe":
        chunk_size = min(chunk_size, BPE_CHUNK)
    chunks = _chunker(splits, chunk_size, anywhere=cfg.tokenizer == "char")
    t0 = time.perf_counter()
    if _one_word_pass(cfg, splits):   # fit and encode train in one split of its text (seqgen.data.word_pass)
        with _progress(verbose, splits["train"].nbytes, "count + encode train") as bar:
            tok, train = word_pass.count_and_encode(chunks("train"), out, cfg, bar)
        rest = ("valid", "test")
    else:
        tok, train, rest = _fit(cfg, splits, chunks, verbose), None, SPLITS
    dtype = id_dtype(tok.vocab_size)
    meta = {"dataset": cfg.name, "tokenizer": cfg.tokenizer, "vocab_size": tok.vocab_size,
            "dtype": dtype, "tokens": {}, "chars": {}, "config": asdict(cfg), "identity": ident,
            "seconds": {"fit": round(time.perf_counter() - t0, 3)}}
    if train:
        meta["tokens"]["train"], meta["chars"]["train"] = train["tokens"], splits["train"].chars
        meta["lines"] = {"train": train["lines"]}
    t0 = time.perf_counter()
    _encode(out, tok, {s: splits[s] for s in rest}, chunks, meta,
            batch=BPE_BATCH if cfg.tokenizer == "bpe" else 1, verbose=verbose)
    meta["seconds"]["encode"] = round(time.perf_counter() - t0, 3)
    for spooled in out.glob("hf-*.txt"):
        spooled.unlink()
    if meta["tokens"]["train"] < 2:
        raise DataError(f"dataset '{cfg.name}': the train split has {meta['tokens']['train']} tokens; "
                        f"need at least 2")
    tok.save(out / "tokenizer.json")
    write_meta(out, meta)
    if verbose:
        print(f"[seqgen] vocab {tok.vocab_size}, tokens {meta['tokens']}", flush=True)
    return PreparedData(out, tok, meta)


def _chunker(splits: dict, chunk_size: int, anywhere: bool):
    """chunks(split, limit=None): the split's aligned chunks, at most `limit` characters of them."""
    def chunks(split, limit=None):
        seen = 0
        for c in aligned_chunks(splits[split].blocks(), chunk_size, anywhere):
            if limit is not None and seen >= limit:
                return
            seen += len(c)
            yield c
    return chunks


def _one_word_pass(cfg: DataConfig, splits: dict) -> bool:
    """Word vocabularies fitted on the whole of train: count and encode it in one pass."""
    sample = parse_size(cfg.tokenizer_sample, "data.tokenizer_sample") if cfg.tokenizer_sample else None
    return cfg.tokenizer == "word" and (sample is None or sample >= splits["train"].nbytes)


def _fit(cfg: DataConfig, splits: dict, chunks, verbose: bool):
    """The tokenizer fitted to the text it may see: char vocabularies cover every split (nanoGPT's
    convention: a character set is no leak); word and BPE vocabularies are fitted on train only, or on
    its first data.tokenizer_sample."""
    sample = parse_size(cfg.tokenizer_sample, "data.tokenizer_sample") if cfg.tokenizer_sample else None
    fit_splits = [s for s in SPLITS if splits[s].chars] if cfg.tokenizer == "char" else ["train"]
    fit_bytes = sum(splits[s].nbytes for s in fit_splits)
    fit_on = (c for s in fit_splits for c in chunks(s, None if cfg.tokenizer == "char" else sample))
    with _progress(verbose, min(fit_bytes, sample or fit_bytes), "fit tokenizer") as bar:
        return fit_tokenizer(cfg.tokenizer, bar.wrap(fit_on), min_count=cfg.min_count,
                             max_vocab=cfg.max_vocab, split=cfg.word_split, lowercase=cfg.lowercase,
                             vocab_size=cfg.bpe_vocab_size)


def _encode(out: Path, tok, splits: dict, chunks, meta: dict, batch: int, verbose: bool) -> None:
    """Append each split's ids to `{split}.bin` (and char / word line indexes to `{split}.lines`), chunk
    by chunk; `batch` chunks per encode call (BPE encodes them on all cores). Fills meta's counts."""
    with _progress(verbose, sum(s.nbytes for s in splits.values()), "encode") as bar:
        for split in splits:
            n = 0
            # char / word: the line index line-based models read instead of the text (seqgen.data.lines)
            lines = LineWriter(out / f"{split}.lines", tok) if tok.kind in ("char", "word") else None
            with open(out / f"{split}.bin", "wb") as f:
                for group in _grouped(bar.wrap(chunks(split)), batch):
                    for text, ids in zip(group, tok.encode_batch(group)):
                        ids.astype(meta["dtype"]).tofile(f)
                        n += ids.size
                        bar.tokens(ids.size)
                        if lines:
                            lines.add(text, ids)
            meta["tokens"][split] = n
            meta["chars"][split] = splits[split].chars
            if lines:
                meta.setdefault("lines", {})[split] = lines.close()


def _grouped(items, n: int):
    group = []
    for x in items:
        group.append(x)
        if len(group) == n:
            yield group
            group = []
    if group:
        yield group


class _progress:
    """A tqdm bar over bytes of text (MB/s) with tokens/s beside it; silent when not verbose."""

    def __init__(self, verbose: bool, total: int, desc: str):
        self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"[seqgen] {desc}",
                        disable=not verbose, mininterval=1.0, leave=verbose)
        self.done = 0

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def wrap(self, chunks):
        for c in chunks:
            self.bar.update(len(c.encode("utf-8")) if not self.bar.disable else 0)
            yield c

    def tokens(self, n: int):
        self.done += n
        if not self.bar.disable:
            rate = self.done / max(1e-9, time.perf_counter() - self.t0)
            self.bar.set_postfix_str(f"{rate:,.0f} tok/s", refresh=False)
