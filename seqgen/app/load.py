"""Rebuild any model through its family: `load_model(path) -> (model, tokenizer, state)`, where path is a
checkpoint file (`last.pt`), a pretrained folder (config.json + model.safetensors) or a Hub id
(`hf:user/repo[@revision]`). Every verb that takes `ckpt=` (sample, evaluate, export, the demos) loads
through here, so each gets folders and the Hub for free."""

from __future__ import annotations

from pathlib import Path

from seqgen import families
from seqgen.app import hub
from seqgen.core import checkpoint as ckpt
from seqgen.core import pretrained
from seqgen.core.errors import CheckpointError, ConfigError, DataError


def resolve(path) -> Path:
    """A local path for a checkpoint file, a pretrained folder or a Hub id (downloaded into, or read
    from, huggingface_hub's cache)."""
    if hub.is_hub_id(path):
        return hub.snapshot(path)
    return Path(path)


def load_state(path, device="cpu", local: Path | None = None) -> dict:
    """The checkpoint dict behind any of the three kinds of path (weights_only / safetensors: no pickle)."""
    local = local or resolve(path)
    if local.is_dir():
        return pretrained.load(local, map_location=device)
    return ckpt.load(local, map_location=device)


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()] or [repr(e)]
    # torch's load_state_dict error opens with "Error(s) in loading state_dict for X:"; the cause is next
    return (lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0])[:200]


def load_model(path, device="cpu"):
    """(model, tokenizer or None, checkpoint state) from a checkpoint, pretrained folder or Hub id alone."""
    local = resolve(path)
    # the state is read onto the CPU whatever the device: the counted / non-parametric families (n-gram,
    # word2vec, video textures) keep numpy tables on the host, and each family's loader moves its own
    # module to `device` (CUDA tensors in the state broke all three on a GPU machine)
    state = load_state(path, "cpu", local)
    folder = local.is_dir()
    try:
        fam = families.get(state["model_name"])
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    ckpt.apply_patches(fam, state, path)
    try:
        model, tokenizer = fam.load_state(state, device)
    except (KeyError, TypeError, RuntimeError, ValueError) as e:   # a field the family needs is missing or malformed
        if folder and isinstance(e, DataError) and "tokenizer" in str(e):   # tokenizer.json, not the weights
            raise CheckpointError(f"pretrained folder {path}: its tokenizer.json is damaged ({_first_line(e)}); "
                                  f"copy it again from where the folder came from") from None
        if folder:
            raise CheckpointError(f"pretrained folder {path}: weights and config disagree: the tensors in "
                                  f"{pretrained.WEIGHTS} do not build the {fam.name} model {pretrained.CONFIG} "
                                  f"describes ({type(e).__name__}: {_first_line(e)})") from None
        raise CheckpointError(f"checkpoint {path} does not rebuild a {fam.name} model ({type(e).__name__}: "
                              f"{_first_line(e)}): a damaged or hand-edited file") from None
    if tokenizer is None and any(k.endswith("vocab_size") for k in fam.derived):   # its vocabulary is a tokenizer's
        raise CheckpointError(f"checkpoint {path} has no tokenizer (field 'tokenizer' is missing or empty), and a "
                              f"{fam.name} model cannot read or write text without the one it was trained with: a "
                              f"damaged or hand-edited file (the run folder's tokenizer.json belongs in it)")
    why = tokenizer is not None and fam.tokenizer_mismatch(model, tokenizer)
    if why:
        raise CheckpointError(f"checkpoint {path}: its tokenizer is not the model's ({why}): a damaged or "
                              f"hand-edited file; the run folder's tokenizer.json belongs with these weights")
    return model, tokenizer, state
