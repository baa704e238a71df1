"""Config validation and run-directory rules. Builds no models.

Hydra composes YAML into a DictConfig; `parse()` turns it into plain dicts and typed dataclasses once,
so an unknown or mistyped key is a clear error naming the key and the valid ones.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from seqgen.data.images import IMAGE_DATASETS, ImageDataConfig
from seqgen.data.prepare import DataConfig
from seqgen.models import config_keys, get_model_class
from seqgen.optim import OptimConfig
from seqgen.tracking import LoggerConfig
from seqgen.trainer import TrainerConfig


class ConfigError(ValueError):
    pass


@dataclass
class RunSpec:
    """The whole run config, validated: one typed object per group."""

    seed: int
    run_name: str
    out_root: str
    data_root: str
    model_name: str
    model: dict            # model.Config params (validated against the model's Config)
    data: DataConfig | ImageDataConfig   # ImageDataConfig for the image datasets (shapes, emoji, ...)
    optim: OptimConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    init_embeddings: str | None  # a word2vec checkpoint whose vectors initialise the token embeddings
    pixels: "PixelTaskConfig"    # sampling / evaluation settings of image models
    plain: dict            # the full plain config, as saved in config.yaml and checkpoints


@dataclass
class PixelTaskConfig:
    """How image models are sampled and scored during and after training (`pixels.*` keys)."""

    guidance: float | None = 3.0     # classifier-free guidance scale for samples and fidelity (null: none)
    temperature: float = 1.0
    top_k: int | None = None
    eval_images: int | None = 500    # images per split for bits per pixel-token (null: all)
    fidelity_images: int = 200       # held-out captions drawn and scored at the end (shapes only; 0: skip)
    sample_images: int = 8           # sample grid logged at each sample step
    baseline: bool = True            # fit the pixel n-gram on train and report its bits per pixel
    blocks_per_image: int = 64       # upsampler: random 4x4 blocks per training image
    edge_weight: float = 8.0         # upsampler: blocks near an edge (window not flat) drawn this much more often
    upsample_eval_images: int = 16   # upsampler: images for bits per token (and, at the end, upsampled)
    retries: int = 3                 # upsampler: redraws of a block the 4x rule does not map back


# model Config fields that come from the data, not from the user
DERIVED = {"ngram": ("vocab_size", "block_size")}

TOP_LEVEL = {"seed", "run_name", "out_root", "data_root", "model", "data", "optim", "trainer", "logger",
             "init_embeddings", "pixels"}


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


def parse(cfg) -> RunSpec:
    plain = to_plain(cfg)
    unknown = sorted(set(plain) - TOP_LEVEL)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; valid: {sorted(TOP_LEVEL)}")
    model = dict(plain.get("model") or {})
    name = model.pop("name", None)
    if name is None:
        raise ConfigError("model.name is missing: pick a model group, e.g. model=gpt")
    try:
        cls = get_model_class(name)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    # validate model params against the model's own Config; vocab_size comes from the tokenizer
    build(cls.Config, model, "model", derived=getattr(cls, "derived", DERIVED.get(name, ("vocab_size",))))
    assert set(model) <= set(config_keys(name))
    return RunSpec(
        seed=int(plain.get("seed", 1337)), run_name=str(plain.get("run_name") or "run"),
        out_root=str(plain.get("out_root", "outputs")), data_root=str(plain.get("data_root", "data")),
        model_name=name, model=model,
        data=build(ImageDataConfig if (plain.get("data") or {}).get("name") in IMAGE_DATASETS else DataConfig,
                   plain.get("data"), "data"),
        optim=build(OptimConfig, plain.get("optim"), "optim"),
        trainer=build(TrainerConfig, plain.get("trainer"), "trainer"),
        logger=build(LoggerConfig, plain.get("logger"), "logger"),
        init_embeddings=plain.get("init_embeddings"),
        pixels=build(PixelTaskConfig, plain.get("pixels"), "pixels"),
        plain=plain,
    )


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


def run_dir_for(spec: RunSpec) -> Path:
    """Under Hydra: its job dir (`out_root/run_name`, or one per multirun job); else out_root/run_name."""
    return hydra_output_dir() or Path(spec.out_root) / spec.run_name
