"""Config validation and run-directory rules. Builds no models.

Hydra composes YAML into a DictConfig; `parse()` turns it into plain dicts and typed dataclasses once,
so an unknown or mistyped key is a clear error naming the key and the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen.core.config import build, hydra_output_dir, to_plain  # noqa: F401
from seqgen.core.errors import ConfigError  # noqa: F401
from seqgen.data.images.prepare import IMAGE_DATASETS, ImageDataConfig
from seqgen.data.prepare import DataConfig
from seqgen.models import config_keys, get_model_class
from seqgen.core.optim import OptimConfig
from seqgen.core.tracking import LoggerConfig
from seqgen.core.trainer import TrainerConfig


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


def run_dir_for(spec: RunSpec) -> Path:
    """Under Hydra: its job dir (`out_root/run_name`, or one per multirun job); else out_root/run_name."""
    return hydra_output_dir() or Path(spec.out_root) / spec.run_name
