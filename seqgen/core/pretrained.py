"""Pretrained folders: a checkpoint dict split into tensors (model.safetensors) and JSON (config.json),
and rebuilt from them without pickle. What travels (the Hugging Face Hub's layout):

    config.json         format, format_version, seqgen_version, family, model_config, data (the run's data
                        block), run (the whole plain run config), checkpoint (every other field of the
                        checkpoint dict, tensors replaced by {"__tensor__": name, "dtype", "shape"})
    model.safetensors   every tensor once (tied weights are stored once and referenced twice); the
                        model's own tensors keep their state_dict names, so safetensors.torch.load_file
                        gives a state_dict a seqgen model loads directly
    tokenizer.json      the checkpoint's `tokenizer` field, palette.json its `codec` (when present)

Training-only fields (optimizer, rng, tracker) are left out: a folder samples and evaluates, `last.pt`
stays the format to resume from. Family-agnostic: the generic walk below handles nested dicts, lists,
tuples and tensors, so a family needs no code of its own to travel.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from seqgen.core.errors import CheckpointError

FORMAT = "seqgen-pretrained"
FORMAT_VERSION = 1
CONFIG, WEIGHTS = "config.json", "model.safetensors"
# checkpoint fields that only a resumed training run reads
TRAINING_ONLY = ("optimizer", "rng", "tracker")
# string fields written as files of their own (readable by other tools), not inside config.json
FILES = {"tokenizer": "tokenizer.json", "codec": "palette.json"}
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool)}


def _split(obj, path: tuple, tensors: dict, seen: dict):
    """obj -> its JSON skeleton; tensors filled with {name: contiguous CPU tensor}."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        # the same tensor twice (tied embeddings): store it once, point both places at it
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype) \
            if t.numel() else None
        if ident is not None and ident in seen:
            name = seen[ident]
        else:
            name = ".".join(map(str, path[1:])) if path[0] == "model" else "state." + ".".join(map(str, path))
            if name in tensors or not name:
                raise CheckpointError(f"cannot name tensor {path} uniquely in {WEIGHTS} ({name!r} is taken)")
            # a view of a bigger tensor would drag (or, in safetensors, refuse) the shared storage
            tensors[name] = t.cpu().contiguous().clone() if t.untyped_storage().nbytes() != t.nbytes \
                else t.cpu().contiguous()
            if ident is not None:
                seen[ident] = name
        return {"__tensor__": name, "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and "__tensor__" not in obj and "__tuple__" not in obj:
            return {k: _split(v, path + (k,), tensors, seen) for k, v in obj.items()}
        # JSON keys are strings: keep int (or other plain) keys as pairs
        return {"__items__": [[k, _split(v, path + (k,), tensors, seen)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_split(v, path + (i,), tensors, seen) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_split(v, path + (i,), tensors, seen) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"checkpoint field {'.'.join(map(str, path))} is a {type(obj).__name__}, which a "
                          f"pretrained folder cannot hold (tensors, numbers, strings, lists and dicts only)")


def _join(obj, tensors: dict):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_join(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {k: _join(v, tensors) for k, v in obj["__items__"]}
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def _refs(obj, out: list) -> list:
    """(tensor name, dtype, shape) of every reference in a skeleton (a tied tensor is referenced twice)."""
    if isinstance(obj, dict) and "__tensor__" in obj:
        out.append((obj["__tensor__"], obj["dtype"], tuple(obj["shape"])))
    elif isinstance(obj, dict):
        children = obj.get("__tuple__") or ([v for _, v in obj["__items__"]] if "__items__" in obj else obj.values())
        for v in children:
            _refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out)
    return out


def save(state: dict, out, seqgen_version: str = "", extra: dict | None = None) -> dict:
    """Write `state` (a checkpoint dict) as a pretrained folder `out`; returns the config.json dict.
    `extra`: more top-level config.json keys (e.g. what the model card records)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = {k: v for k, v in state.items() if k not in TRAINING_ONLY}
    files = {}
    for key, name in FILES.items():
        if isinstance(body.get(key), str) and body[key]:
            files[name] = body[key]
            body[key] = {"__file__": name}
    tensors: dict = {}
    skeleton = _split(body, (), tensors, {})
    run = skeleton.pop("config", {}) or {}
    tmp = out / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})   # one key: the header's bytes repeat
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "seqgen_version": seqgen_version,
              "family": state["model_name"], "model_config": skeleton.pop("model_config"),
              "data": run.get("data"), "weights_sha256": sha256(tmp),
              # tokenizer.json / palette.json: a replaced or permuted vocabulary would load and give wrong
              # text and perplexities silently, so load() checks these
              "files_sha256": {name: _text_sha256(text) for name, text in files.items()},
              **(extra or {}), "run": run,
              "checkpoint": skeleton, "fields": list(body)}
    # the weights go to a temp name first, then renamed: a crash leaves no half-written model.safetensors
    os.replace(tmp, out / WEIGHTS)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    (out / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return config


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_folder(path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file()


def read_config(folder) -> dict:
    folder = Path(folder)
    path = folder / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a pretrained folder: no {CONFIG} in it")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seqgen pretrained folder's config (no \"format\": \"{FORMAT}\"); "
                              f"a transformers folder is imported with scripts/export.py hf=DIR format=checkpoint")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {config['format_version']}; this seqgen reads up to "
                              f"{FORMAT_VERSION}: upgrade seqgen")
    return config


def load(folder, map_location="cpu") -> dict:
    """The checkpoint dict a pretrained folder holds (safetensors + JSON: nothing is unpickled). Refuses,
    in one line, a folder whose weights and config.json disagree."""
    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"pretrained folder {folder} has {CONFIG} but no {WEIGHTS}")
    try:
        body = dict(config["checkpoint"])
        body["model_config"] = config["model_config"]
        body["config"] = config.get("run") or {}
        body["model_name"] = config["family"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{folder / CONFIG}: field {e} is missing (a damaged or hand-edited file)") from None
    refs = _refs(body, [])
    want = {name for name, _, _ in refs}
    tensors = {}
    try:
        with safe_open(str(weights), framework="pt", device=str(map_location)) as f:
            have = set(f.keys())
            extra, missing = sorted(have - set(want)), sorted(set(want) - have)
            if missing or extra:
                what = f"{len(missing)} tensor(s) {CONFIG} names are not in {WEIGHTS} (first: {missing[0]!r})" \
                    if missing else f"{WEIGHTS} holds {len(extra)} tensor(s) {CONFIG} does not name (first: " \
                                    f"{extra[0]!r})"
                raise CheckpointError(f"pretrained folder {folder}: weights and config disagree: {what}")
            for name, dtype, shape in refs:
                sl = f.get_slice(name)
                got = (sl.get_dtype(), tuple(sl.get_shape()))
                if tuple(got[1]) != shape or _DTYPES.get(dtype) is None or \
                        _safetensors_dtype(_DTYPES[dtype]) != got[0]:
                    raise CheckpointError(f"pretrained folder {folder}: weights and config disagree: tensor {name!r} "
                                          f"is {got[0]} {list(got[1])} in {WEIGHTS}, {CONFIG} says {dtype} "
                                          f"{list(shape)}")
                if name not in tensors:
                    tensors[name] = f.get_tensor(name)
    except SafetensorError as e:
        raise CheckpointError(f"cannot read {weights}: truncated or not a safetensors file ({e})") from None
    state = _join(body, tensors)
    order = [k for k in config.get("fields", []) if k in state]     # the checkpoint's own field order
    state = {**{k: state[k] for k in order}, **state}
    for key, name in FILES.items():
        if isinstance(state.get(key), dict) and "__file__" in state[key]:
            path = folder / state[key]["__file__"]
            if not path.is_file():
                raise CheckpointError(f"pretrained folder {folder}: {CONFIG} refers to {path.name}, which is missing")
            state[key] = path.read_text(encoding="utf-8")
            want_sha = (config.get("files_sha256") or {}).get(path.name)
            if want_sha and _text_sha256(state[key]) != want_sha:
                raise CheckpointError(f"pretrained folder {folder}: {path.name} is not the file saved with these "
                                      f"weights (its sha256 differs from {CONFIG}'s files_sha256): edited or "
                                      f"replaced, it would map ids to the wrong entries; copy it again from where "
                                      f"the folder came from (changed on purpose: delete files_sha256 from {CONFIG})")
    state.setdefault("format_version", 1)
    return state


def _safetensors_dtype(dtype: torch.dtype) -> str:
    return {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}[dtype]
