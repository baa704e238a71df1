"""evaluate(values): any checkpoint on a held-out split in units that compare across models.

    text (n-gram, GPT):  bits per character of the split's text, whatever the tokenizer: the total
                         code length of the text in bits divided by its characters. Word-level models
                         also report perplexity per token on their closed vocabulary.
    word2vec:            analogies and word-pair similarity.
    text2pixel:          bits per pixel-token (and the pixel n-gram's beside it), caption fidelity.
    upsampler:           bits per high-res token, token accuracy / PSNR / consistency beside the
                         nearest and bicubic baselines.

The data is found from the checkpoint's own config, so a checkpoint and `data_root` are all a user
needs; `data.KEY=VALUE` on the command line overrides it (and is how a checkpoint imported from an
ARPA file is given text to score: data.test=FILE). File paths that come only from the checkpoint must
lie inside the working folder (see checked_data). Each family's `evaluate` computes its figures;
scripts/evaluate.py and the ladder call this.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgen import families
from seqgen.app import infgram_eval
from seqgen.app.load import load_model
from seqgen.core import distributed as D
from seqgen.core.errors import ConfigError
from seqgen.core.rundir import check_out
from seqgen.core.schema import key
from seqgen.data.identity import file_digest, folder_digest
from seqgen.families.base import split_args


@dataclass
class EvaluateConfig:
    """The keys every family's evaluation reads (configs/evaluate.yaml holds the same defaults)."""

    ckpt: str | None = None
    split: str = "auto"              # auto: test when the dataset has one, else valid
    data_root: str = "data"
    device: str = "auto"
    batch_size: int = key(32, ge=1)
    seed: int | None = None          # null: the run's own seed, so the figures repeat what train.py printed
    out: str | None = None           # also write the figures as JSON here
    copy_index: str | None = None    # an infgram checkpoint / index: copy rate of this model's samples
    infgram: str | None = None       # an infgram checkpoint / index: the GPT + ∞-gram hybrid (λ tuned on valid)
    kn: str | None = None            # an n-gram checkpoint (same tokenizer): the GPT + KN hybrid beside it


def report(figures: dict) -> str:
    """What evaluate.py prints before its JSON line: the family's own report (visual_prompt: a table of
    tasks x figures), else one line per figure."""
    name = figures.get("model")
    fam = families.get(name) if name in families.FAMILIES else None
    if fam is not None and fam.report is not None:
        return fam.report(figures)
    return "\n".join(f"{k:>28}  {v:.4f}" if isinstance(v, float) else f"{k:>28}  {v}" for k, v in figures.items())


# data config keys that name local files or folders (a hub id in hf_name is a relative name: allowed)
PATH_KEYS = ("train", "valid", "test", "path", "hf_name")


def checked_data(state: dict, given: dict, ckpt) -> dict:
    """The checkpoint's data config with evaluate.py's `data.*` keys over it. A file path that only the
    checkpoint names is read when it lies inside the working folder, or when its content is the one
    the checkpoint recorded at training (its data identity: a checkpoint can name an outside file only
    if its maker already knew that file's bytes). Otherwise a checkpoint from elsewhere could choose
    which local file is read (and tokenized under data_root): repeat the key on the command line."""


    data = {**((state.get("config") or {}).get("data") or {}), **given}
    recorded = json.loads(state["data_identity"]) if isinstance(state.get("data_identity"), str) else {}
    here = Path.cwd().resolve()
    refused, changed = [], []
    for k in PATH_KEYS:
        v = data.get(k)
        if not isinstance(v, str) or not v or k in given:
            continue
        p = (here / Path(v).expanduser()).resolve()      # here / an absolute path = that path
        if p.is_relative_to(here):
            continue
        if p.is_file() or p.is_dir():
            now = f"{p}: {file_digest(p) if p.is_file() else folder_digest(p)}"
            if recorded.get(f"data.{k}") == now:
                continue
            if str(recorded.get(f"data.{k}", "")).startswith(f"{p}: "):
                changed.append(f"data.{k}")
        refused.append(f"data.{k}={v}")
    if refused:
        why = (f" ({', '.join(changed)} changed since training)" if changed else
               ", and the checkpoint does not record their content")
        raise ConfigError(f"{ckpt}: its config reads {', '.join(r.split('=')[0] for r in refused)} outside the "
                          f"working folder {here}{why}; a checkpoint may not choose which local files are read. "
                          f"If you mean it, repeat them: {' '.join(refused)}")
    return data


def evaluate(values: dict) -> dict:
    """A flat dict of figures for one checkpoint (see the module docstring for the units)."""
    values = dict(values)
    given = values.pop("data", None) or {}
    if not isinstance(given, dict):
        raise ConfigError(f"data={given!r}: give data keys one by one, e.g. data.test=FILE")
    if values.get("out"):
        check_out(values["out"])
    ckpt = values.get("ckpt")
    if not ckpt:
        raise ConfigError("ckpt is required: python scripts/evaluate.py ckpt=outputs/<run>/checkpoints/last.pt")
    if not str(ckpt).startswith("hf:") and not Path(ckpt).exists():
        raise ConfigError(f"ckpt={ckpt}: no such checkpoint file or pretrained folder")
    device = D.resolve_device(values.get("device", "auto"))
    model, tokenizer, state = load_model(ckpt, device)
    state = {**state, "config": {**(state.get("config") or {}), "data": checked_data(state, given, ckpt)}}
    return evaluate_loaded(model, tokenizer, state, values, device)


def evaluate_loaded(model, tokenizer, state: dict, values: dict, device="cpu") -> dict:
    """evaluate() on a model already loaded (export.py's model card evaluates what it exports)."""
    fam = families.get(state["model_name"])
    ec, args = split_args(values, EvaluateConfig, fam.EvalArgs, where=f"evaluate.py with a {fam.name} checkpoint")
    if fam.evaluate is None:
        raise ConfigError(f"a {fam.name} checkpoint has no evaluation")
    if ec.seed is None:   # the seed train.py's own figures were drawn with (walks, fidelity samples, ...)
        ec.seed = int((state.get("config") or {}).get("seed", 0))
    t0 = time.perf_counter()
    with torch.no_grad():
        out = fam.evaluate(model, tokenizer, state, ec, args, device)
        if ec.copy_index or ec.infgram or ec.kn:
            if ec.copy_index:
                out.update(infgram_eval.copy_audit(fam, model, tokenizer, state, ec, device))
            if ec.infgram:
                out.update(infgram_eval.hybrid(model, tokenizer, state, ec, device, getattr(args, "max_tokens", None)))
            if ec.kn:
                out.update(infgram_eval.kn_hybrid(model, tokenizer, state, ec, device,
                                                  getattr(args, "max_tokens", None)))
    out["step"] = state.get("step", 0)
    out["eval_seconds"] = time.perf_counter() - t0
    return out
