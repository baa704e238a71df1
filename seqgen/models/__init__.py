"""Model registry: an explicit {name: class} table; build_model turns plain params into a model."""

from __future__ import annotations

from dataclasses import fields

from seqgen.models.gpt import GPT
from seqgen.models.ngram import NGram
from seqgen.models.text2pixel import Text2Pixel
from seqgen.models.upsampler import Upsampler
from seqgen.models.word2vec import Word2Vec

MODELS = {
    "gpt": GPT,
    "ngram": NGram,
    "text2pixel": Text2Pixel,
    "upsampler": Upsampler,
    "word2vec": Word2Vec,
}


def config_keys(name: str) -> list[str]:
    return [f.name for f in fields(get_model_class(name).Config)]


def get_model_class(name: str):
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}'; registered models: {sorted(MODELS)}")
    return MODELS[name]


def build_model(name: str, params: dict, **derived):
    """cls(cls.Config(**params, **derived)); unknown keys are a clear error naming the valid ones."""
    cls = get_model_class(name)
    params = {**params, **derived}
    valid = config_keys(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {['model.' + k for k in unknown]} for model '{name}'; "
                         f"valid keys: {valid}")
    return cls(cls.Config(**params))
