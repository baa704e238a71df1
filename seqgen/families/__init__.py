"""The model families, by name. A family is one folder (`seqgen/families/<name>/`) whose `family.py`
defines `FAMILY`, a `seqgen.families.base.Family` record; adding one is that folder, a model YAML in
configs/model/ and its name below. Folders are imported only when a family is asked for by name, so
nothing here runs at import, and a family never imports a sibling.
"""

from __future__ import annotations

from importlib import import_module

from seqgen.core.errors import ConfigError
from seqgen.core.schema import build

FAMILIES = ("gpt", "ngram", "infgram", "word2vec", "text2pixel", "upsampler", "video_texture", "visual_prompt")


def get(name: str):
    """The Family record of `name` (imports its folder on first use)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown model '{name}'; registered models: {sorted(FAMILIES)}")
    return import_module(f"seqgen.families.{name}.family").FAMILY


def build_model(name: str, params: dict, **derived):
    """family.Model(Config(**params, **derived)); an unknown key is an error naming the valid ones."""
    model = get(name).Model
    return model(build(model.Config, {**params, **derived}, "model"))


def data_config(name: str) -> type:
    """The data config class that reads `data.name=<name>` (one of the families' DataConfig classes)."""
    known = {}
    for fam in FAMILIES:
        cls = get(fam).DataConfig
        for n in cls.names():
            known.setdefault(n, cls)
    if name not in known:
        raise ConfigError(f"unknown data.name={name!r}; the registered models read: {sorted(known)}")
    return known[name]
