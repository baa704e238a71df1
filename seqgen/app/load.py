"""Rebuild any checkpoint's model through its family: `load_model(path) -> (model, tokenizer, state)`."""

from __future__ import annotations

from seqgen import families
from seqgen.core import checkpoint as ckpt


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
    fam = families.get(state["model_name"])
    patch(fam, state, path)
    model, tokenizer = fam.load_state(state, device)
    return model, tokenizer, state
