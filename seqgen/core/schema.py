"""Dataclass configs from plain dicts: the type and range checks every config group shares.

`build(cls, values, prefix)` turns one group's dict into its dataclass, reporting an unknown key, a
wrong type or an out-of-range value by its full name together with the valid keys; `key(default,
ge=..., choices=...)` declares a field's range. A leaf of core/: every config dataclass imports it.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, field, fields

from omegaconf import OmegaConf

from seqgen.core.errors import ConfigError


def to_plain(cfg) -> dict:
    """DictConfig -> plain, resolved dicts and lists (safe for weights_only checkpoints)."""
    if isinstance(cfg, dict):
        return cfg
    return OmegaConf.to_container(cfg, resolve=True)


def _check_type(value, hint, key):
    """Accept value if it fits hint (int/float/bool/str/list/dict, Optional and unions thereof)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        for h in options:
            try:
                return _check_type(value, h, key)
            except ConfigError:
                pass
        names = [("null" if h is type(None) else getattr(h, "__name__", str(h))) for h in options]
        example = f" (e.g. {key.split('.')[-1]}=[1,2])" if list in options and isinstance(value, str) else ""
        raise ConfigError(f"{key}={value!r}: expected {' or '.join(names)}{example}")
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


def key(default, *, ge=None, gt=None, le=None, lt=None, choices=None, odd: bool = False):
    """A dataclass field whose range `build` enforces: `max_steps: int = key(3000, ge=1)`. Bounds
    apply to numbers (None passes when the type allows it), choices to any value."""
    meta = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices).items() if v is not None}
    if odd:
        meta["odd"] = True
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"range": meta})
    return field(default=default, metadata={"range": meta})


def _check_range(value, meta: dict, name: str):
    if value is None or not meta:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{name}={value!r}: expected one of {list(meta['choices'])}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for op, bound, ok in (("ge", meta.get("ge"), lambda v, b: v >= b), ("gt", meta.get("gt"), lambda v, b: v > b),
                          ("le", meta.get("le"), lambda v, b: v <= b), ("lt", meta.get("lt"), lambda v, b: v < b)):
        if bound is not None and not ok(value, bound):
            sign = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}[op]
            raise ConfigError(f"{name}={value!r}: expected a value {sign} {bound}")
    if meta.get("odd") and value % 2 == 0:
        raise ConfigError(f"{name}={value!r}: expected an odd number")


def build(cls, values: dict, prefix: str, derived: tuple = ()):
    """cls(**values) with unknown keys, wrong types and out-of-range values reported by full key name."""
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
            _check_range(values[f.name], f.metadata.get("range", {}), f"{prefix}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING and f.name not in derived:
            raise ConfigError(f"missing required key {prefix}.{f.name}")
    obj = cls(**values)
    if hasattr(obj, "validate"):   # checks across keys (e.g. optim.min_lr <= optim.lr)
        obj.validate(prefix)
    return obj
