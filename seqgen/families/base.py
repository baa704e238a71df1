"""The Family record: everything the app layer needs to train, sample, evaluate and export one model
family without knowing its name. Each family's `family.py` fills one in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Callable

from seqgen.core.errors import ConfigError
from seqgen.core.schema import build
from seqgen.data.tokenizer import Tokenizer


def entries_differ(model_entries: list, tokenizer_entries: list) -> str | None:
    """None when the two vocabularies are equal, else where they first differ (a family's tokenizer_fits)."""
    if model_entries == tokenizer_entries:
        return None
    if len(model_entries) != len(tokenizer_entries):
        return f"the model has {len(model_entries)} vocabulary entries, its tokenizer gives {len(tokenizer_entries)}"
    i = next(i for i, (a, b) in enumerate(zip(model_entries, tokenizer_entries)) if a != b)
    return (f"entry {i} is {model_entries[i]!r} in the model, {tokenizer_entries[i]!r} in its tokenizer "
            f"(reordered or replaced)")


@dataclass(frozen=True)
class Family:
    name: str
    Model: type                        # with a nested dataclass Config (what model_config holds)
    DataConfig: type                   # the data config it reads; names() lists the dataset names
    derived: tuple = ("vocab_size",)   # Config fields filled from the data, not by the user
    Settings: type | None = None       # its own run settings: the top-level `<name>:` block of train.py
    SampleArgs: type | None = None     # extra sample.py keys
    EvalArgs: type | None = None       # extra evaluate.py keys
    make_task: Callable | None = None  # gradient-trained: (RunContext) -> core.training.Task
    fit: Callable | None = None        # counted / own loop / non-parametric: (RunContext) -> result dict
    load: Callable | None = None       # (state, device) -> (model, tokenizer); None: torch module + state_dict
    sample: Callable | None = None     # (model, tokenizer, state, sc, args, device) -> {"out", ...}
    transform_images: Callable | None = None   # images in, images out: (model, state, lo, sc, args, device)
    evaluate: Callable | None = None   # (model, tokenizer, state, ec, args, device) -> figures dict
    report: Callable | None = None     # (figures) -> str: evaluate.py's printout; None: one line per figure
    exporters: dict = field(default_factory=dict)   # format -> (model, state, out) -> Path
    importers: dict = field(default_factory=dict)   # export.py key (e.g. arpa) -> (path, out) -> Path
    patches: tuple = ()                # (description, fn(state) -> bool) for checkpoints of older releases
    pretrained_files: dict = field(default_factory=dict)   # file in a pretrained folder -> an exporters format
    hub_tags: tuple = ()               # model-card tags; the first is the Hub's pipeline_tag
    # (model, tokenizer) -> None, or why this tokenizer is not the model's; None: every derived
    # *vocab_size field must equal the tokenizer's size (GPT, infgram, text2pixel's captions)
    tokenizer_fits: Callable | None = None

    def __post_init__(self):
        if (self.make_task is None) == (self.fit is None):
            raise TypeError(f"family {self.name}: give exactly one of make_task (gradient training) or fit")

    def load_state(self, state: dict, device):
        """(model, tokenizer) rebuilt from a checkpoint dict alone."""
        if self.load is not None:
            return self.load(state, device)
        model = self.Model(self.Model.Config(**state["model_config"]))
        model.load_state_dict(state["model"])
        model.to(device).eval()
        return model, Tokenizer.from_json(state["tokenizer"]) if state.get("tokenizer") else None

    def tokenizer_mismatch(self, model, tokenizer) -> str | None:
        """Why `tokenizer` cannot be the one `model` was trained with (a smaller one gives perplexities
        over ids it never produces, a larger one ids the model has no row for), or None."""
        if self.tokenizer_fits is not None:
            return self.tokenizer_fits(model, tokenizer)
        config = getattr(model, "config", None)
        for key in (k for k in self.derived if k.endswith("vocab_size")):
            n = getattr(config, key, None)
            if isinstance(n, int) and n != tokenizer.vocab_size:
                return f"the model's {key} is {n}, its tokenizer has {tokenizer.vocab_size} entries"
        return None

    def settings_of(self, state: dict):
        """The run settings a checkpoint was made with, as this family's typed Settings (None for a family
        without them): see settings_from."""
        return settings_from(self.Settings, self.name, state, self.patches)

    def data_of(self, state: dict, ckpt=None):
        """The data config a checkpoint reads, as this family's DataConfig: see data_from."""
        return data_from(self.DataConfig, state, ckpt)


def settings_from(cls: type | None, name: str, state: dict, patches: tuple = ()):
    """A checkpoint's run settings (its `<name>:` block) as the dataclass cls: one validated `build`, so
    generate.py and evaluate.py read what a run used without writing a default again (each lives in
    cls). A key the checkpoint predates takes the value it had back then: the patch steps run on a copy
    first (load_model has usually run them already; they are idempotent). Keys this release does not
    know decide nothing here and are left out, so a checkpoint of another release still loads."""
    if cls is None:
        return None
    patched = {**state, "model_config": dict(state.get("model_config") or {}),
               "config": copy.deepcopy(state.get("config") or {})}
    for _, step in patches:
        step(patched)
    block = patched["config"].get(name) or {}
    known = {f.name for f in fields(cls)}
    return build(cls, {k: v for k, v in block.items() if k in known}, name)


def data_from(cls: type, state: dict, ckpt=None):
    """The data config a checkpoint reads (evaluate.py's data.* keys already over it) as the dataclass
    cls: one validated `build`; a clear error when the checkpoint has none (see checkpoint_data)."""
    return build(cls, checkpoint_data(state, ckpt), "data")


def arg_keys(*classes) -> list[str]:
    """Field names of the given dataclasses (None skipped), in order."""
    return [f.name for cls in classes if cls is not None for f in fields(cls)]


def predated(block: str, then: dict):
    """A patch step for checkpoints older than some keys: each key of `then` that the checkpoint lacks
    takes the value it had by default back then (not today's default, which may since have become
    another recipe's). block "model": the model_config; otherwise the run config's block of that name
    (a family's settings; a checkpoint that lacks the whole block predates it). -> fn(state) -> bool
    (whether it filled anything)."""
    def fill(state: dict) -> bool:
        if block == "model":
            d = state.get("model_config")
        elif isinstance(state.get("config"), dict):
            d = state["config"].setdefault(block, {})
        else:
            d = None
        if not isinstance(d, dict):
            return False
        missing = {k: v for k, v in then.items() if k not in d}
        d.update(missing)
        return bool(missing)
    return fill


def split_args(values: dict, common: type, *extra: type | None, where: str):
    """Split a flat config (sample.py / evaluate.py keys) into the common dataclass and the extra ones;
    an unknown key is an error naming every valid key of this checkpoint's family."""
    valid = arg_keys(common, *extra)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} for {where}; valid keys: {valid}")
    out = [build(common, {k: v for k, v in values.items() if k in arg_keys(common)}, where.split()[0])]
    for cls in extra:
        out.append(build(cls, {k: v for k, v in values.items() if k in arg_keys(cls)}, where.split()[0])
                   if cls is not None else None)
    return out


def checkpoint_data(state: dict, ckpt=None) -> dict:
    """The data config an evaluation reads (the checkpoint's, with evaluate.py's data.* keys over it):
    a clear error when the checkpoint has none (imported from another tool's file)."""
    data = (state.get("config") or {}).get("data")
    if not data or not data.get("name"):
        source = (state.get("config") or {}).get("source")
        raise ConfigError(f"{ckpt or 'this checkpoint'} holds no data config (it was "
                          f"{f'imported from {source}' if source else 'not made by train.py'}), so there is no "
                          f"held-out split to find: give one on the command line, e.g. data.test=FILE")
    return dict(data)
