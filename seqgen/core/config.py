"""The run config of train.py: `parse(cfg, family)` -> RunSpec, and the run directory's name.

Hydra composes YAML into a DictConfig; `to_plain` converts it once at the boundary (so no DictConfig
leaks into checkpoints) and `build` (core/schema.py) turns each group into its dataclass, reporting
unknown, mistyped or out-of-range keys by their full name together with the valid ones. Knows no
model, family or dataset: the family record passed in says which config classes apply.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from seqgen.core.errors import ConfigError
from seqgen.core.optim import OptimConfig
from seqgen.core.schema import build, key, to_plain  # noqa: F401  (re-exported: the config API in one place)
from seqgen.core.tracking import LoggerConfig
from seqgen.core.trainer import TrainerConfig


def hydra_output_dir() -> Path | None:
    """The job dir of a Hydra multirun job (out_root/run_name/<job number>); None for single runs
    (which live in out_root/run_name, created by seqgen itself only once the config is valid), under
    compose() and for plain calls."""
    try:
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

    model_name: str
    model: object          # the model's typed Config; the fields filled from the data (family.derived) hold
    #                        their defaults until the task fills them: dataclasses.replace(spec.model, vocab_size=V)
    data: object           # the family's data config (text DataConfig, ImageDataConfig, ...)
    settings: object       # the family's own settings (its top-level block, e.g. `text2pixel:`), or None
    optim: OptimConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    plain: dict            # the full plain config, as saved in config.yaml and checkpoints
    derived: tuple = ()    # the model fields filled from the data (family.derived)
    seed: int = 1337
    run_name: str = "run"
    out_root: str = "outputs"
    data_root: str = "data"
    init_embeddings: str | None = None  # a word2vec checkpoint whose vectors initialise the token embeddings

    def model_params(self) -> dict:
        """The model keys the config chose (every Config field but the derived ones): what makes two runs
        the same model (core.checkpoint.check_same_model)."""
        return {f.name: getattr(self.model, f.name) for f in fields(self.model) if f.name not in self.derived}


def parse(cfg, family) -> RunSpec:
    """Validate the composed train config against a family's record (its Model.Config, data config
    and Settings: seqgen.families.base.Family) -> RunSpec. Errors name the key and the valid ones."""
    plain = to_plain(cfg)
    allowed = set(TOP_LEVEL) | ({family.name} if family.Settings is not None else set())
    unknown = sorted(set(plain) - allowed)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; valid for model={family.name}: {sorted(allowed)}")
    model = dict(plain.get("model") or {})
    model.pop("name", None)
    model = build(family.Model.Config, model, "model", derived=family.derived)
    data = dict(plain.get("data") or {})
    names = family.DataConfig.names()
    if data.get("name") not in names:
        raise ConfigError(f"model={family.name} reads {family.DataConfig.kind} datasets ({', '.join(names)}); "
                          f"data.name={data.get('name')!r} is not one of them")
    top = {k: plain[k] for k in ("seed", "run_name", "out_root", "data_root", "init_embeddings")
           if plain.get(k) not in (None, "")}   # absent, null or empty: RunSpec's default
    return RunSpec(
        model_name=family.name, model=model, data=build(family.DataConfig, data, "data"),
        settings=build(family.Settings, plain.get(family.name), family.name) if family.Settings else None,
        optim=build(OptimConfig, plain.get("optim"), "optim"),
        trainer=build(TrainerConfig, plain.get("trainer"), "trainer"),
        logger=build(LoggerConfig, plain.get("logger"), "logger"),
        plain=plain, derived=tuple(family.derived),
        **{k: int(v) if k == "seed" else str(v) for k, v in top.items()},
    )


def run_dir_for(spec: RunSpec) -> Path:
    """out_root/run_name, or under a Hydra multirun one numbered folder per job inside it."""
    return hydra_output_dir() or Path(spec.out_root) / spec.run_name
