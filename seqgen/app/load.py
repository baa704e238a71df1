"""Rebuild any checkpoint's model through its family: `load_model(path) -> (model, tokenizer, state)`."""

from __future__ import annotations

from seqgen import families
from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import CheckpointError, ConfigError, DataError


def patch(fam, state: dict, path) -> dict:
    """Apply the family's named patch steps for checkpoints of older releases, saying which ran."""
    for description, fn in fam.patches:
        if fn(state):
            print(f"[seqgen] {path}: format_version {state.get('format_version')} checkpoint: {description}",
                  flush=True)
    return state


def load_model(path, device="cpu"):
    """(model, tokenizer or None, checkpoint state) from a checkpoint file alone (weights_only=True)."""
    state = ckpt.load(path, map_location=device)
    try:
        fam = families.get(state["model_name"])
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    patch(fam, state, path)
    try:
        model, tokenizer = fam.load_state(state, device)
    except (KeyError, TypeError, RuntimeError, DataError) as e:   # a field the family needs is missing or malformed
        first = (str(e).strip().splitlines() or [repr(e)])[0][:200]
        raise CheckpointError(f"checkpoint {path} does not rebuild a {fam.name} model ({type(e).__name__}: {first}): "
                              f"a damaged or hand-edited file") from None
    if tokenizer is None and any(k.endswith("vocab_size") for k in fam.derived):   # its vocabulary is a tokenizer's
        raise CheckpointError(f"checkpoint {path} has no tokenizer (field 'tokenizer' is missing or empty), and a "
                              f"{fam.name} model cannot read or write text without the one it was trained with: a "
                              f"damaged or hand-edited file (the run folder's tokenizer.json belongs in it)")
    return model, tokenizer, state
