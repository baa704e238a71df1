"""The ∞-gram model object: its config and an open engine over the run's index folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen.core.errors import CheckpointError, ConfigError
from seqgen.core.schema import key


class InfGram:
    @dataclass
    class Config:
        vocab_size: int = 0               # derived: the tokenizer's vocabulary
        order: int | None = key(None, ge=1)   # null: ∞-gram (longest suffix that occurs); n: at most n-1 tokens
        documents: str = key("line", choices=("line", "none"))   # line: a newline ends a document
        shard_tokens: int = key(50_000_000, ge=2)   # tokens per suffix-array shard (~20 bytes each to build)

    def __init__(self, config: "InfGram.Config", engine=None):
        if config.documents not in ("line", "none"):
            raise ConfigError(f"model.documents must be 'line' or 'none', got {config.documents!r}")
        self.config = config
        self.engine = engine

    @property
    def max_len(self) -> int | None:
        """Longest context the model looks at: order - 1, or None (unbounded)."""
        return None if self.config.order is None else self.config.order - 1


def boundary_id(tokenizer, documents: str) -> int | None:
    """The id that ends a document: the newline token with documents=line."""
    if documents == "none":
        return None
    ids = tokenizer.encode("\n")
    if len(ids) != 1 or tokenizer.decode(ids) != "\n":
        raise ConfigError("model.documents=line needs a tokenizer with a newline token of its own (char, or word "
                          "with data.word_split=words); this one has none: use model.documents=none")
    return int(ids[0])


def index_dir(state: dict, ckpt_path=None) -> Path:
    """The index folder of an infgram checkpoint: <run>/index next to <run>/checkpoints/, else the
    absolute path recorded at fit time."""
    if ckpt_path is not None:
        near = Path(ckpt_path).resolve().parent.parent / "index"
        if (near / "index.json").is_file():
            return near
    try:
        return Path(state["model"]["index_dir"])
    except (KeyError, TypeError):
        raise CheckpointError("an infgram checkpoint without model.index_dir: a damaged file") from None
