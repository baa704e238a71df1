"""The run directory and the resume policy: what is in `out_root/run_name/` and when it may be reused.

    config.yaml  metrics.jsonl  tokenizer.json / codec.json  checkpoints/{step_*.pt, last.pt}  samples/

`trainer.resume=auto` continues from the newest checkpoint of the folder, `never` refuses a folder
that holds checkpoints, a path resumes from that file. A folder holds one model: a checkpoint of a
different model (or shape) is refused, naming the differing keys.
"""

from __future__ import annotations

from pathlib import Path

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import ConfigError


def resume_state(spec, ckpt_dir: Path) -> dict | None:
    """The checkpoint to continue from under spec.trainer.resume, checked to hold the same model."""
    mode = spec.trainer.resume
    if mode == "never":
        if ckpt.latest(ckpt_dir) is not None:
            raise ConfigError(f"{ckpt_dir} already holds checkpoints and trainer.resume=never: pick "
                              f"another run_name, delete that folder, or pass trainer.resume=auto")
        return None
    path = ckpt.latest(ckpt_dir) if mode == "auto" else Path(mode)
    if path is None:
        return None
    state = ckpt.load(path)
    ckpt.check_same_model(spec, state, path)
    print(f"[seqgen] resuming from {path} (step {state['step']})", flush=True)
    return state


def check_refit(spec, ckpt_dir: Path) -> None:
    """Fitted models (counted, own loop, non-parametric) refit from scratch: harmless for the same
    model, refused for another one (it would overwrite that one's checkpoint) or under resume=never."""
    existing = ckpt.latest(ckpt_dir)
    if existing is None:
        return
    if spec.trainer.resume == "never":
        raise ConfigError(f"{existing.parent} already holds a checkpoint and trainer.resume=never: pick "
                          f"another run_name or delete that folder")
    ckpt.check_same_model(spec, ckpt.load(existing), existing)


def write_config(run_dir: Path, plain: dict) -> None:
    from omegaconf import OmegaConf

    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(plain), run_dir / "config.yaml")


def samples_path(ckpt_path, out: str | None, seed: int, suffix: str) -> Path:
    """Where sample.py writes: `out`, else <run_dir>/samples/sample_seed<seed><suffix> beside the checkpoint."""
    path = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "samples" / f"sample_seed{seed}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


SEPARATOR = "\n" + "-" * 40 + "\n"


def write_texts(texts: list[str], path: Path) -> None:
    """Text samples, one after another, separated by a line of dashes; printed as they are written."""
    path.write_text(SEPARATOR.join(texts), encoding="utf-8")
    for t in texts:
        print(t, end=SEPARATOR, flush=True)
