"""save_pretrained / from_pretrained / push_to_hub (huggingface_hub's PyTorchModelHubMixin verbs) for every
family: a checkpoint (or a loaded model) out to a pretrained folder with its model card, and back as a
`Pretrained` object ready to sample."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgen import families
from seqgen.app import card, hub
from seqgen.app.evaluate import checked_data, evaluate_loaded
from seqgen.app.load import load_model
from seqgen.app.sample import sample
from seqgen.core import pretrained
from seqgen.core.errors import SeqgenError


def _num_params(state: dict) -> int:
    """Numbers the model holds (tied tensors once): parameters, or tables / frames for counted models."""
    seen, n = set(), 0

    def walk(o):
        nonlocal n
        if isinstance(o, torch.Tensor):
            key = (o.untyped_storage().data_ptr(), o.storage_offset(), tuple(o.shape))
            if key not in seen:
                seen.add(key)
                n += o.numel()
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
    walk(state.get("model"))
    return n


def _run_samples(state: dict, out: Path) -> dict:
    """The newest samples the run wrote (a PNG copied beside the card, or the start of a text file): free,
    they exist already. Nothing when the run folder is not on this machine."""
    run = state.get("config") or {}
    if not run.get("out_root") or not run.get("run_name"):
        return {}
    folder = Path(run["out_root"]) / run["run_name"] / "samples"
    if not folder.is_dir():
        return {}
    found = {}
    pngs = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime)
    if pngs:
        shutil.copyfile(pngs[-1], out / "samples.png")
        found["picture"] = "samples.png"
    texts = sorted(folder.glob("*.txt"), key=lambda p: p.stat().st_mtime)
    if texts:
        found["text"] = texts[-1].read_text(encoding="utf-8", errors="replace")[:800]
    return found


def save_pretrained(source, out, evaluate: bool = True, data_root: str = "data", license: str = "mit",
                    command: str | None = None, device="cpu") -> Path:
    """Write a pretrained folder from `source`: a checkpoint path / folder / Hub id, or a (model,
    tokenizer, state) triple already loaded. With evaluate, the card reports the family's held-out
    figures (when the run's data can be found under data_root); otherwise the figures logged in training."""
    model, tokenizer, state = source if isinstance(source, tuple) else load_model(source, device)
    fam = families.get(state["model_name"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    evaluation, note = None, "evaluate=false"
    if evaluate and fam.evaluate is not None:
        try:
            # the same guard as evaluate.py: a checkpoint may not choose which local files are read
            data = checked_data(state, {}, source if not isinstance(source, tuple) else "the checkpoint")
            checked = {**state, "config": {**(state.get("config") or {}), "data": data}}
            evaluation = evaluate_loaded(model, tokenizer, checked, {"ckpt": str(out), "data_root": data_root},
                                         device)
        except SeqgenError as e:      # the data is not on this machine: the card says so
            note = f"the data could not be read here: {str(e).splitlines()[0][:200]}"
    extra = {"num_params": _num_params(state), "evaluation": evaluation}
    # the package is imported already (this module is inside it); importing it here would be a cycle
    config = pretrained.save(state, out, sys.modules["seqgen"].__version__, extra)
    # other tools' formats beside the weights (ARPA for KenLM, word2vec text for gensim)
    for name, fmt in fam.pretrained_files.items():
        fam.exporters[fmt](model, state, out / name)
    card.write(out, state, config, evaluation, note, _run_samples(state, out), license, command)
    return out


@dataclass
class Pretrained:
    """A model with what it needs to sample: its tokenizer (or None), the checkpoint state (codec, run
    config) and its family's record. `sample` / `evaluate` take the keys of scripts/sample.py /
    scripts/evaluate.py."""

    model: object
    tokenizer: object
    state: dict
    source: str

    @property
    def family(self):
        return families.get(self.state["model_name"])

    def sample(self, **keys) -> dict:
        return sample({"ckpt": self.source, **keys}, loaded=(self.model, self.tokenizer, self.state))

    def evaluate(self, **keys) -> dict:
        given = keys.pop("data", None) or {}
        data = checked_data(self.state, given, self.source)   # as evaluate.py: no file chosen by the checkpoint
        state = {**self.state, "config": {**(self.state.get("config") or {}), "data": data}}
        return evaluate_loaded(self.model, self.tokenizer, state, {"ckpt": self.source, **keys})

    def save_pretrained(self, out, **kw) -> Path:
        return save_pretrained((self.model, self.tokenizer, self.state), out, **kw)

    def push_to_hub(self, repo: str, private: bool = False, **kw) -> str:


        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / repo.split("/")[-1], **kw)
            return hub.push(folder, repo, private)


def from_pretrained(name, device="cpu") -> Pretrained:
    """A pretrained folder, a checkpoint file, or a Hub id ('user/repo', 'user/repo@rev' or 'hf:user/repo')."""
    spec = str(name)
    if not spec.startswith("hf:") and not Path(spec).exists() and spec.count("/") == 1:
        spec = "hf:" + spec
    model, tokenizer, state = load_model(spec, device)
    return Pretrained(model, tokenizer, state, spec)
