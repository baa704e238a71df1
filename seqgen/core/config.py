"""Config building and validation: plain dicts in, typed dataclasses out, errors that name the key.

Hydra composes YAML into a DictConfig; `to_plain` converts it once at the boundary (so no DictConfig
leaks into checkpoints) and `build` turns one group into its dataclass, reporting unknown or mistyped
keys by their full name together with the valid ones. Knows no model, family or dataset.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, fields
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
    """The job dir of a Hydra multirun job (out_root/run_name/<job number>); None for single runs
    (which live in out_root/run_name, created by seqgen itself only once the config is valid), under
    compose() and for plain calls."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            out = HydraConfig.get().runtime.output_dir
            return Path(out) if out else None
    except Exception:
        return None
    return None


# ---- the run config of train.py --------------------------------------------------------------

TOP_LEVEL = ("seed", "run_name", "out_root", "data_root", "model", "data", "optim", "trainer", "logger",
             "init_embeddings")


@dataclass
class RunSpec:
    """The whole run config, validated once: one typed object per group."""

    seed: int
    run_name: str
    out_root: str
    data_root: str
    model_name: str
    model: dict            # the model's Config params (validated; the data-derived fields left out)
    data: object           # the family's data config (text DataConfig, ImageDataConfig, ...)
    settings: object       # the family's own settings (its top-level block, e.g. `text2pixel:`), or None
    optim: object
    trainer: object
    logger: object
    init_embeddings: str | None  # a word2vec checkpoint whose vectors initialise the token embeddings
    plain: dict            # the full plain config, as saved in config.yaml and checkpoints


def parse(cfg, family) -> RunSpec:
    """Validate the composed train config against a family's record (its Model.Config, data config
    and Settings: seqgen.families.base.Family) -> RunSpec. Errors name the key and the valid ones."""
    from seqgen.core.optim import OptimConfig
    from seqgen.core.tracking import LoggerConfig
    from seqgen.core.trainer import TrainerConfig

    plain = to_plain(cfg)
    allowed = set(TOP_LEVEL) | ({family.name} if family.Settings is not None else set())
    unknown = sorted(set(plain) - allowed)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; valid for model={family.name}: {sorted(allowed)}")
    model = dict(plain.get("model") or {})
    model.pop("name", None)
    build(family.Model.Config, model, "model", derived=family.derived)
    data = dict(plain.get("data") or {})
    names = family.DataConfig.names()
    if data.get("name") not in names:
        raise ConfigError(f"model={family.name} reads {family.DataConfig.kind} datasets ({', '.join(names)}); "
                          f"data.name={data.get('name')!r} is not one of them")
    return RunSpec(
        seed=int(plain.get("seed", 1337)), run_name=str(plain.get("run_name") or "run"),
        out_root=str(plain.get("out_root", "outputs")), data_root=str(plain.get("data_root", "data")),
        model_name=family.name, model=model, data=build(family.DataConfig, data, "data"),
        settings=build(family.Settings, plain.get(family.name), family.name) if family.Settings else None,
        optim=build(OptimConfig, plain.get("optim"), "optim"),
        trainer=build(TrainerConfig, plain.get("trainer"), "trainer"),
        logger=build(LoggerConfig, plain.get("logger"), "logger"),
        init_embeddings=plain.get("init_embeddings"),
        plain=plain,
    )


def run_dir_for(spec: RunSpec) -> Path:
    """out_root/run_name, or under a Hydra multirun one numbered folder per job inside it."""
    return hydra_output_dir() or Path(spec.out_root) / spec.run_name
