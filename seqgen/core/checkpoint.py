"""Checkpoints: plain dicts of tensors and primitives, written atomically, read with weights_only=True.

Layout: format_version, model_name, model_config, tokenizer (JSON string), model (raw state_dict),
optimizer, step, rng {torch, data per rank}, tracker {wandb_id}, config (the plain run config).
"""

from __future__ import annotations

import copy
import errno
import os
import pickletools
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import torch

from seqgen.core import streamed_save
from seqgen.core.errors import CheckpointError, ConfigError
from seqgen.core.precision import cpu_name

FORMAT_VERSION = 1
MMAP_BYTES = 1 << 30       # checkpoints at least this large are loaded as maps of the file
_STEP_RE = re.compile(r"step_(\d+)\.pt$")


# fields every checkpoint has, and their types (families add their own, checked by their loaders)
REQUIRED = {"format_version": int, "model_name": str, "model_config": dict, "model": dict, "step": int}


def nbytes(obj) -> int:
    """Bytes of the tensors inside a nested checkpoint dict (what a save will write, roughly)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj)
    return len(obj) if isinstance(obj, (str, bytes)) else 8


def check_writable(folder, need_bytes: int = 0, what: str = "checkpoints") -> None:
    """Fail early, in words, when `folder` cannot take a file of need_bytes (permissions or space)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CheckpointError(f"cannot write {what} into {folder}: {e.strerror or e} (check permissions, "
                              f"or pick another out_root)") from None
    free = shutil.disk_usage(folder).free
    if need_bytes and free < need_bytes:
        raise CheckpointError(f"no space left on the device of {folder} for {what}: {free / 2**20:.1f} MiB free, "
                              f"about {need_bytes / 2**20:.1f} MiB needed; free some space or pick another out_root")


def save(state: dict, path) -> Path:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file.
    Free space is checked first; a failed write removes its temp file and says why in words."""
    path = Path(path)
    state = {"format_version": FORMAT_VERSION, **state}
    check_writable(path.parent, int(nbytes(state) * 1.1) + 2**16, f"checkpoint {path.name}")
    tmp = path.with_name(path.name + ".tmp")
    try:
        if streamed_save.needs_streaming(state):   # maps of files larger than memory: copied file to file
            streamed_save.save(state, tmp)
        else:
            torch.save(state, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        full = isinstance(e, OSError) and e.errno == errno.ENOSPC or "unexpected pos" in str(e) or \
            "No space left" in str(e)
        reason = "no space left on the device" if full else (getattr(e, "strerror", None) or str(e).splitlines()[0])
        raise CheckpointError(f"could not write checkpoint {path}: {reason}; the previous checkpoints are "
                              f"intact (free space and rerun the same command to resume)") from None
    return path


def load(path, map_location="cpu") -> dict:
    """A checkpoint dict, read with weights_only=True; every failure is a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        if path.is_symlink():
            raise CheckpointError(f"checkpoint {path} is a symlink that leads nowhere (broken, or a loop)")
        if path.is_dir():
            raise CheckpointError(f"checkpoint {path} is a folder; give a .pt file (e.g. {path}/checkpoints/last.pt)")
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): written by a crashed process? Delete it "
                              f"(a resume uses the newest intact step file)")
    try:
        # a file larger than MMAP_BYTES is mapped, not read (an n-gram fitted with model.memory can
        # outgrow memory): its tensors are copy-on-write views of the file, the same values
        big = path.stat().st_size >= MMAP_BYTES and str(map_location) == "cpu"
        with warnings.catch_warnings():   # torch's note on a raw pickle's protocol: the error below says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=map_location, weights_only=True, mmap=big)
    except Exception as e:
        text = str(e)
        # torch names a refused global two ways: "Unsupported global: GLOBAL x.y" (an unknown class) and
        # "unsupported GLOBAL x.y whose module x is blocked" (os / posix / subprocess / builtins ...)
        glob = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", text)
        # a raw pickle (not torch's zip): torch stops at its framing before naming the call
        call = glob.group(1) if glob else _pickled_call(path)
        if call:
            blocked = "is blocked" in text
            raise CheckpointError(f"refused to load {path}: it holds code - a pickled call to {call}"
                                  f"{', from a blocked module' if blocked else ''}, which can run code when "
                                  f"unpickled - and was refused without running it. seqgen only reads weights_only "
                                  f"checkpoints; do not open it with weights_only=False unless you know who made "
                                  f"it") from None
        # torch's own text advises weights_only=False, the unsafe way out: say what is wrong instead
        detail = "" if "Weights only load failed" in text else ": " + (text.strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"cannot read checkpoint {path}: the file is truncated, corrupt or not a torch "
                              f"checkpoint ({type(e).__name__}{detail})") from None
    if not isinstance(state, dict) or "format_version" not in state or "model_name" not in state:
        raise CheckpointError(f"{path} is not a seqgen checkpoint (no format_version / model_name); "
                              f"a nanoGPT or Hugging Face file has to be converted first")
    for key, kind in REQUIRED.items():
        if not isinstance(state.get(key), kind):
            got = "missing" if key not in state else f"a {type(state[key]).__name__}"
            raise CheckpointError(f"checkpoint {path}: field '{key}' is {got}, expected a {kind.__name__} "
                                  f"(a damaged or hand-edited file)")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {state['format_version']}; this seqgen reads "
                              f"up to {FORMAT_VERSION}: upgrade seqgen")
    return state


def latest_intact(ckpt_dir, map_location="cpu") -> tuple[Path, dict] | tuple[None, None]:
    """The newest checkpoint that loads, newest step file first: a corrupt newest file (a disk that
    filled up, a hand edit) falls back to the one before it, with a message."""
    candidates = list(reversed(list_steps(ckpt_dir)))
    last = Path(ckpt_dir) / "last.pt"
    if not candidates and last.is_file():
        candidates = [last]
    for i, path in enumerate(candidates):
        try:
            state = load(path, map_location)
        except CheckpointError as e:
            if i + 1 == len(candidates):
                raise
            print(f"[seqgen] warning: {e}; trying the previous checkpoint", flush=True)
            continue
        if i:
            print(f"[seqgen] resuming from {path.name}, the newest intact checkpoint", flush=True)
        return path, state
    return None, None


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
        shutil.copyfile(path, tmp)
    os.replace(tmp, path.with_name("last.pt"))


def pack(spec, model_config: dict, model_state, step: int, **extra) -> dict:
    """The checkpoint dict every family writes: who made it (model_name, model_config, the plain run
    config), the weights or tables, the step; `extra` adds the family's keys (tokenizer, codec,
    optimizer, rng, metrics, train_seconds, ...)."""
    return {"model_name": spec.model_name, "model_config": dict(model_config), "model": model_state,
            "step": step, "config": spec.plain, "hardware": hardware(), **extra}


def hardware() -> str:
    """The machine a checkpoint was made on, in words (for model cards): CPU, cores, and GPUs if any."""
    out = f"{cpu_name()}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        out += f", {torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return out


def apply_patches(family, state: dict, path=None) -> list[str]:
    """Run the family's named patch steps (`Family.patches`) on a checkpoint of an older release, in
    place; print the description of each that changed something (unless path is None: a scratch copy)
    and return them."""
    ran = [description for description, fn in getattr(family, "patches", ()) if fn(state)]
    for description in ran if path is not None else ():
        print(f"[seqgen] {path}: format_version {state.get('format_version')} checkpoint: {description}", flush=True)
    return ran


def check_same_model(spec, state: dict, path, family=None):
    """A run folder holds one model: refuse a different one rather than overwrite its checkpoints.
    A key the checkpoint predates (added by a later release) counts as having had that release's
    default: the family's patch steps fill it (model.patch=1 for a text2pixel before patch tokens),
    and a key no step names takes the family's Config default (`family.Model.Config`)."""
    if state["model_name"] != spec.model_name:
        raise ConfigError(f"checkpoint {path} holds a '{state['model_name']}' model, the config asks for "
                          f"'{spec.model_name}'")
    patched = {**state, "model_config": dict(state["model_config"]),
               "config": copy.deepcopy(state.get("config") or {})}
    apply_patches(family, patched)
    old = patched["model_config"]
    config_cls = getattr(getattr(family, "Model", None), "Config", None)
    params = spec.model_params()
    for k in params:
        if k not in old and config_cls is not None and hasattr(config_cls, k):
            old[k] = getattr(config_cls, k)
    changed = {k: (old.get(k), v) for k, v in params.items() if old.get(k) != v}
    if changed:
        raise ConfigError(f"checkpoint {path} was made with a different model: "
                          + ", ".join(f"model.{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
                          + ". Use another run_name to start a new run.")


RAW_PICKLE_SCAN = 64 << 20   # bytes of a non-zip file scanned for pickled calls (a checkpoint is a zip)


def _pickled_call(path: Path) -> str | None:
    """The first global a raw (non-zip) pickle would call, read with pickletools (which runs nothing), or
    None: torch refuses such a file at its protocol framing, before it names the call, so the refusal
    could only say "corrupt" where the file holds code."""
    if path.stat().st_size > RAW_PICKLE_SCAN or zipfile.is_zipfile(path):
        return None
    strings: list[str] = []
    try:
        with open(path, "rb") as f:
            for op, arg, _ in pickletools.genops(f):
                if op.name in ("GLOBAL", "INST"):
                    return str(arg).replace(" ", ".")
                if op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    return f"{strings[-2]}.{strings[-1]}"
                if isinstance(arg, str):
                    strings.append(arg)
    except Exception:   # not a pickle at all, or cut short: the caller's "corrupt" is right
        return None
    return None
