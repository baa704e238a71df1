"""The run directory and the resume policy: what is in `out_root/run_name/` and when it may be reused.

    config.yaml  metrics.jsonl  tokenizer.json / codec.json  checkpoints/{step_*.pt, last.pt}  samples/

`trainer.resume=auto` continues from the newest checkpoint of the folder, `never` refuses a folder
that holds checkpoints, a path resumes from that file. A folder holds one model: a checkpoint of a
different model (or shape) is refused, naming the differing keys.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import OmegaConf

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import ConfigError
from seqgen.core.optim import lr_at
from seqgen.core.schema import build


class RunLock:
    """One process per run folder: an OS lock on `<run_dir>/.lock`, which holds the holder's PID, host
    and start time. The OS drops the lock when its process dies (kill -9 included), so a stale file
    never blocks; a live holder makes a second run on the folder fail, naming it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.fd = None

    def acquire(self) -> "RunLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:   # read-only disk, a file where a folder should be, a symlink loop, ...
            raise ConfigError(f"cannot create the run folder {self.path.parent}: {e.strerror or e}; pick another "
                              f"out_root / run_name") from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ConfigError(f"cannot write into the run folder {self.path.parent} ({e.strerror or e}): "
                                  f"check its permissions, or pick another out_root / run_name") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = self._read(fd)
                os.close(fd)
                raise ConfigError(f"{self.path.parent} is in use by another run ({holder}); wait for it, stop "
                                  f"it, or pick another run_name") from None
            # the file may have been unlinked by a releasing holder between our open and our lock
            if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        self.fd = fd
        return self

    @staticmethod
    def _read(fd) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return f"PID {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError):
            return "a process whose details could not be read"

    def release(self):
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _data_changes(spec, family, state) -> list[str]:
    """data.* keys whose value differs from the checkpoint's run (its config filled with defaults)."""


    try:
        old = asdict(build(family.DataConfig, dict(state.get("config", {}).get("data") or {}), "data"))
    except ConfigError:   # a key that no longer exists: compare what both know
        old = dict(state.get("config", {}).get("data") or {})
    new = asdict(spec.data)
    return [f"data.{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in sorted(set(old) | set(new))
            if k in old and old.get(k) != new.get(k)]


def resume_state(spec, ckpt_dir: Path, family=None) -> dict | None:
    """The checkpoint to continue from under spec.trainer.resume, checked to hold the same model on
    the same data before anything in the run folder is written."""
    mode = spec.trainer.resume
    if mode == "never":
        if ckpt.latest(ckpt_dir) is not None:
            raise ConfigError(f"{ckpt_dir} already holds checkpoints and trainer.resume=never: pick "
                              f"another run_name, delete that folder, or pass trainer.resume=auto")
        return None
    if mode == "auto":
        path, state = ckpt.latest_intact(ckpt_dir)
        if path is None:
            return None
    else:
        path, state = Path(mode), ckpt.load(mode)
    ckpt.apply_patches(family, state, path)
    ckpt.check_same_model(spec, state, path, family)
    changes = _data_changes(spec, family, state) if family is not None else []
    if changes:
        raise ConfigError(f"checkpoint {path} was trained on other data: " + ", ".join(changes)
                          + ". Use another run_name to start a new run on this data.")
    print(f"[seqgen] resuming from {path} (step {state['step']})", flush=True)
    return state


def check_resumed_data(state: dict, identity: dict | None, path="the checkpoint") -> None:
    """The prepared data must be the data the checkpoint was trained on: same files, same content,
    hence the same tokenizer or palette. Refuse a resume on edited data, naming what changed."""
    old = json.loads(state["data_identity"]) if state.get("data_identity") else None
    if old is None or identity is None or old == identity:
        return
    changed = [f"{name}: {old.get(name)} then, {identity.get(name)} now"
               for name in sorted(set(old) | set(identity)) if old.get(name) != identity.get(name)]
    raise ConfigError(f"the data of this run changed since {path} was written ({'; '.join(changed)}); "
                      f"resuming would mix two datasets (and remap the tokenizer). Restore the data, or start "
                      f"a new run with another run_name")


def check_schedule(spec, state: dict) -> None:
    """Resuming with another trainer.max_steps stretches a cosine schedule planned for the first one."""
    planned = state.get("schedule_steps")
    now = spec.optim.decay_steps or spec.trainer.max_steps
    if planned is None or planned == now or spec.optim.schedule == "constant":
        return
    step = state["step"]
    print(f"[seqgen] warning: this run's learning-rate schedule was planned for {planned} steps; resuming with "
          f"trainer.max_steps={spec.trainer.max_steps} stretches it (lr at step {step}: "
          f"{lr_at(step, spec.optim, planned):.2e} planned, {lr_at(step, spec.optim, now):.2e} now). "
          f"Pass optim.decay_steps={planned} to keep the planned schedule.", flush=True)


def check_refit(spec, ckpt_dir: Path, family=None) -> None:
    """Fitted models (counted, own loop, non-parametric) refit from scratch: harmless for the same
    model, refused for another one (it would overwrite that one's checkpoint) or under resume=never."""
    existing = ckpt.latest(ckpt_dir)
    if existing is None:
        return
    if spec.trainer.resume == "never":
        raise ConfigError(f"{existing.parent} already holds a checkpoint and trainer.resume=never: pick "
                          f"another run_name or delete that folder")
    state = ckpt.load(existing)
    ckpt.apply_patches(family, state, existing)
    ckpt.check_same_model(spec, state, existing, family)


def write_config(run_dir: Path, plain: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(plain), run_dir / "config.yaml")


def check_out(out, key: str = "out", folder_ok: bool = False) -> Path:
    """An output file's path, checked before any work: not a folder (unless folder_ok: a writer of
    folders), its folder creatable and writable (read-only disks, missing permissions, symlink loops end
    here as one ConfigError)."""
    path = Path(str(out)).expanduser()
    if not folder_ok and (path.is_dir() or str(out).endswith(("/", os.sep))):
        raise ConfigError(f"{key}={out} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{key}={out}: cannot create the folder {path.parent} ({e.strerror or e})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{key}={out}: {path.parent} is not writable (a read-only disk or missing permissions); "
                          f"give another {key}=")
    return path


def samples_path(ckpt_path, out: str | None, seed: int, suffix: str, formats: tuple = ()) -> Path:
    """Where sample.py writes, decided (and checked writable) before anything is drawn: `out` (a file,
    or a folder to write sample_seed<seed><suffix> into), else <run_dir>/samples/ beside the checkpoint.
    `formats`: the file endings this sampler can write (default: just `suffix`)."""
    name = f"sample_seed{seed}{suffix}"
    if not out:
        path = Path(ckpt_path).resolve().parent.parent / "samples" / name
    elif Path(out).is_dir() or str(out).endswith(("/", os.sep)):
        path = Path(out) / name
    else:
        path = Path(out)
        allowed = formats or (suffix,)
        if path.suffix.lower() not in allowed:
            raise ConfigError(f"out={out}: this sampler writes {' / '.join(allowed)} files; give such a path, or "
                              f"a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out={out}: cannot create the folder {path.parent} ({e.strerror})") from None
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"out={out or path}: the folder {path.parent} is not writable")
    return path


SEPARATOR = "\n" + "-" * 40 + "\n"


def write_texts(texts: list[str], path: Path) -> None:
    """Text samples, one after another, separated by a line of dashes: printed first, so that a
    failing write loses nothing, then written."""
    for t in texts:
        print(t, end=SEPARATOR, flush=True)
    try:
        path.write_text(SEPARATOR.join(texts), encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"could not write the samples to {path} ({e.strerror}); they are printed above") from None
