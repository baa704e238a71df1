"""The infgram family (see family.py); `load_engine(ckpt_or_folder)` opens an index for queries."""

from __future__ import annotations

from pathlib import Path

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import CheckpointError, DataError
from seqgen.families.infgram.engine import Engine
from seqgen.families.infgram.model import index_dir


def load_engine(path):
    """An `Engine` from an index folder (holding index.json), a run folder, or an infgram checkpoint."""
    p = Path(path).expanduser()
    if p.is_dir():
        for cand in (p, p / "index", p.parent / "index"):
            if (cand / "index.json").is_file():
                return Engine(cand)
        return Engine(p)   # the error names the missing index.json
    if not p.is_file():
        raise DataError(f"{path}: no such ∞-gram index folder or checkpoint")

    state = ckpt.load(p)
    if state.get("model_name") != "infgram":
        raise CheckpointError(f"{path} is a {state.get('model_name')} checkpoint, not an infgram one")

    return Engine(index_dir(state, p))
