"""Checkpoints: plain dicts of tensors and primitives, written atomically, read with weights_only=True.

Layout: format_version, model_name, model_config, tokenizer (JSON string), model (raw state_dict),
optimizer, step, rng {torch, data per rank}, tracker {wandb_id}, config (the plain run config).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from seqgen.core.errors import CheckpointError, ConfigError

FORMAT_VERSION = 1
_STEP_RE = re.compile(r"step_(\d+)\.pt$")


def save(state: dict, path) -> Path:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format_version": FORMAT_VERSION, **state}, tmp)
    os.replace(tmp, path)
    return path


def load(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path}: the file is truncated, corrupt or not a "
                              f"torch checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or "format_version" not in state or "model_name" not in state:
        raise CheckpointError(f"{path} is not a seqgen checkpoint (no format_version / model_name); "
                              f"a nanoGPT or Hugging Face file has to be converted first")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {state['format_version']}; this seqgen reads "
                              f"up to {FORMAT_VERSION}: upgrade seqgen")
    return state


def step_path(ckpt_dir, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:07d}.pt"


def list_steps(ckpt_dir) -> list[Path]:
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if _STEP_RE.search(p.name)),
                  key=lambda p: int(_STEP_RE.search(p.name).group(1)))


def latest(ckpt_dir) -> Path | None:
    """The newest checkpoint: the highest step file (each is complete: written, then renamed), else
    last.pt. A kill between writing a step file and re-pointing last.pt loses nothing this way."""
    steps = list_steps(ckpt_dir)
    if steps:
        return steps[-1]
    last = Path(ckpt_dir) / "last.pt"
    return last if last.is_file() else None


def prune(ckpt_dir, keep_last: int) -> None:
    """Delete all but the newest keep_last step files (last.pt is never deleted)."""
    steps = list_steps(ckpt_dir)
    for p in steps[: max(0, len(steps) - keep_last)]:
        p.unlink(missing_ok=True)


def link_last(path: Path):
    """Point last.pt at the newest step file (a hard link, swapped in atomically; a copy if links fail)."""
    tmp = path.with_name("last.pt.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        import shutil

        shutil.copyfile(path, tmp)
    os.replace(tmp, path.with_name("last.pt"))


def pack(spec, model_config: dict, model_state, step: int, **extra) -> dict:
    """The checkpoint dict every family writes: who made it (model_name, model_config, the plain run
    config), the weights or tables, the step; `extra` adds the family's keys (tokenizer, codec,
    optimizer, rng, metrics, train_seconds, ...)."""
    return {"model_name": spec.model_name, "model_config": dict(model_config), "model": model_state,
            "step": step, "config": spec.plain, **extra}


def check_same_model(spec, state: dict, path):
    """A run folder holds one model: refuse a different one rather than overwrite its checkpoints."""
    if state["model_name"] != spec.model_name:
        raise ConfigError(f"checkpoint {path} holds a '{state['model_name']}' model, the config asks for "
                          f"'{spec.model_name}'")
    wanted = {**state["model_config"], **spec.model}
    changed = {k: (state["model_config"][k], v) for k, v in wanted.items() if state["model_config"].get(k) != v}
    if changed:
        raise ConfigError(f"checkpoint {path} was made with a different model: "
                          + ", ".join(f"model.{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
                          + ". Use another run_name to start a new run.")
