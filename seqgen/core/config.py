"""Config building and validation: plain dicts in, typed dataclasses out, errors that name the key.

Hydra composes YAML into a DictConfig; `to_plain` converts it once at the boundary (so no DictConfig
leaks into checkpoints) and `build` turns one group into its dataclass, reporting unknown or mistyped
keys by their full name together with the valid ones. Knows no model, family or dataset.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from seqgen.core.errors import ConfigError


def to_plain(cfg) -> dict:
    """DictConfig -> plain, resolved dicts and lists (safe for weights_only checkpoints)."""
    from omegaconf import OmegaConf

    if isinstance(cfg, dict):
        return cfg
    return OmegaConf.to_container(cfg, resolve=True)


def _check_type(value, hint, key):
    """Accept value if it fits hint (int/float/bool/str/list/dict, Optional and unions thereof)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for h in typing.get_args(hint):
            try:
                return _check_type(value, h, key)
            except ConfigError as e:
                errors.append(e)
        raise errors[-1]
    if hint is type(None):
        if value is None:
            return None
    elif hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint in (bool, str) and isinstance(value, hint):
        return value
    elif (hint is list or origin is list) and isinstance(value, (list, tuple)):
        return list(value)
    elif (hint is dict or origin is dict) and isinstance(value, dict):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{key}={value!r}: expected {name}")


def build(cls, values: dict, prefix: str, derived: tuple = ()):
    """cls(**values) with unknown keys and wrong types reported by full key name."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls) if f.name not in derived]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) {[f'{prefix}.{k}' for k in unknown]}; valid keys in "
                          f"'{prefix}': {valid}")
    for f in fields(cls):
        if f.name in values:
            values[f.name] = _check_type(values[f.name], hints[f.name], f"{prefix}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING and f.name not in derived:
            raise ConfigError(f"missing required key {prefix}.{f.name}")
    return cls(**values)


def hydra_output_dir() -> Path | None:
    """Hydra's job output dir when running under @hydra.main (None under compose() or plain calls)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            out = HydraConfig.get().runtime.output_dir
            return Path(out) if out else None
    except Exception:
        return None
    return None
