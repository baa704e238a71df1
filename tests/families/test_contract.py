"""The contract every registered family keeps, checked over `seqgen.families.FAMILIES` (a family added to
the registry is collected here with no edit): a tiny run trains or fits a couple of steps through
train(), the checkpoint is plain (weights_only), loads back to the same model, samples the same output
twice from one seed, and evaluates to finite figures, all in-process and in seconds.

The tiny run is derived, not hand-kept per family: the family's model YAML at the smoke trainer, the tiny
dataset of the kind of data it reads (by its DataConfig: text, images, visual sentences, video), and the
size knobs its Config / Settings / SampleArgs / EvalArgs have (SHRINK) turned down. A family whose data
kind has no tiny dataset here fails with that message rather than being skipped.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import fields, replace

import pytest
import torch
from PIL import Image

from seqgen import families
from seqgen.app.evaluate import evaluate
from seqgen.app.load import load_model
from seqgen.app.sample import sample
from seqgen.app.train import train
from tests.conftest import ROOT, TINY_TEXT, compose

STEPS = 2

# the tiny dataset of each kind of data: DataConfig's qualified name -> overrides(tmp_path)
TINY_DATA = {
    "seqgen.data.prepare.DataConfig": lambda tmp: [
        "data=text_files", "data.tokenizer=word", "data.word_split=words", f"data.train={_text(tmp, 'train', 0)}",
        f"data.valid={_text(tmp, 'valid', 7)}", f"data.test={_text(tmp, 'test', 14)}"],
    "seqgen.data.images.prepare.ImageDataConfig": lambda tmp: [
        "data=shapes", "data.n_train=24", "data.n_valid=8", "data.n_test=8"],
    "seqgen.data.images.visual.VisualConfig": lambda tmp: [
        "data=visual_sentences", "data.tasks=[recolour,mirror]", "data.n_train=32", "data.n_valid=4", "data.n_test=2"],
    "seqgen.data.video.clips.ClipConfig": lambda tmp: ["data=pendulum", "data.n_frames=60", "data.frame_size=16"],
}

# size knobs, wherever a family's dataclass has them: field name -> tiny value
SHRINK = {
    # model
    "n_layer": 1, "n_head": 2, "n_embd": 32, "vector_size": 16, "epochs": 1, "workers": 1, "min_count": 1,
    "eval_sets": False, "max_vocab": 64, "loop_candidates": 4, "steer_directions": 2,
    # run settings (<family>.*) and evaluate / sample keys: how many things are scored or drawn
    "eval_images": 4, "fidelity_images": 1, "sample_images": 2, "blocks_per_image": 4, "eval_frames": 50,
    "sample_frames": 0, "eval_sentences": 4, "score_sentences": 1, "sample_prompts": 1,
    "images": 4, "frames": 40, "ablations": False, "sentences": 2, "agreement_tokens": 50, "max_tokens": 200,
    "restrict_vocab": 100, "compositions": False, "unseen": False, "baseline": False, "canvas": False,
    "analogy": False,
}

# what a sampler is asked to draw from, wherever its SampleArgs take it: field name -> value(tmp_path)
SAMPLE_INPUTS = {
    "image": lambda tmp, data: _png(tmp / "low.png", data["size"]),   # an image to work on (the upsampler's)
    "task": lambda tmp, data: data["tasks"][0],                       # a held-out task's prompts
}


def _text(tmp, split: str, skip: int) -> str:
    p = tmp / f"{split}.txt"
    p.write_text(TINY_TEXT[skip:], encoding="utf-8")
    return str(p)


def _png(path, size: int) -> str:
    g = torch.Generator().manual_seed(0)
    Image.fromarray(torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8).numpy()).save(path)
    return str(path)


def _knobs(cls, skip=()) -> dict:
    """The SHRINK knobs that dataclass `cls` has, where the field's default is of the knob's type (a
    `canvas` that is a flag here and a file name there is only turned off where it is a flag)."""
    if cls is None:
        return {}
    return {f.name: SHRINK[f.name] for f in fields(cls)
            if f.name in SHRINK and f.name not in skip and type(f.default) is type(SHRINK[f.name])}


def _shrunk(cls, prefix: str = "", skip=()) -> list[str]:
    """`prefix.key=value` overrides for the SHRINK knobs that `cls` has."""
    return [f"{prefix}{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in _knobs(cls, skip).items()]


def tiny_recipe(name: str, tmp_path) -> list[str]:
    """train.py overrides for a seconds-long run of family `name`."""
    fam = families.get(name)
    kind = f"{fam.DataConfig.__module__}.{fam.DataConfig.__name__}"
    if kind not in TINY_DATA:
        pytest.fail(f"family {name} reads {kind}, which has no tiny dataset in TINY_DATA: add one")
    return [f"model={name}", "trainer=smoke", f"trainer.max_steps={STEPS}", f"trainer.eval_every={STEPS}",
            f"trainer.ckpt_every={STEPS}", "trainer.sample_every=0", "trainer.batch_size=2",
            "trainer.eval_batches=1", *TINY_DATA[kind](tmp_path),
            *_shrunk(fam.Model.Config, "model.", skip=fam.derived),
            *_shrunk(fam.Settings, f"{name}."), f"out_root={tmp_path / 'out'}",
            f"data_root={tmp_path / 'data'}", f"run_name={name}"]


@contextmanager
def _working_folder(path):
    """Run the block in `path` (contextlib.chdir, which Python 3.10 lacks)."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _same(a, b) -> bool:
    """Equal outputs: tensors / arrays exactly, containers element-wise, numbers and text as they are."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "shape"):
        return torch.equal(torch.as_tensor(a), torch.as_tensor(b))
    return a == b


def _outputs(result: dict) -> dict:
    """What a sampler drew: its arrays, tensors, text and numbers (file paths left out: each draw writes its
    own; helper objects such as a codec too)."""
    kept = (str, int, float, list, tuple, dict, torch.Tensor)
    return {k: v for k, v in result.items() if (isinstance(v, kept) or hasattr(v, "__array__"))
            and k not in ("seconds", "elapsed")}


def _finite(figures: dict) -> list[str]:
    """Names of the figures that are numbers but not finite."""
    return [k for k, v in figures.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v)]


def check_contract(name: str, tmp_path) -> None:
    """Train / fit, save, load, sample twice, evaluate one family (raises AssertionError on a breach)."""
    fam = families.get(name)
    result = train(compose(tiny_recipe(name, tmp_path)))
    path = result["checkpoint"]
    state = torch.load(path, weights_only=True)   # plain dicts, tensors and primitives only
    assert state["model_name"] == name, f"{name}: checkpoint says {state['model_name']}"
    if fam.make_task is not None:
        assert state["step"] == STEPS, f"{name}: trained {state['step']} steps, asked {STEPS}"

    model, _, loaded = load_model(path)
    # another device than the CPU: the state is read onto the CPU and each family moves its own module
    # ("meta" stands in for CUDA: CUDA tensors in the state broke the n-gram, word2vec and video textures'
    # sample / evaluate on the first GPU machine)
    load_model(path, device="meta")
    assert loaded["model_config"] == state["model_config"], f"{name}: model_config changed on load"
    if isinstance(model, torch.nn.Module) and isinstance(result["model"], torch.nn.Module):
        a, b = model.state_dict(), result["model"].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a), \
            f"{name}: the loaded weights differ from the trained ones"

    names = [f.name for f in fields(fam.SampleArgs)] if fam.SampleArgs else []
    keys = {**_knobs(fam.SampleArgs), **{k: SAMPLE_INPUTS[k](tmp_path, state["config"]["data"]) for k in names
                                                               if k in SAMPLE_INPUTS}}
    common = {"ckpt": str(path), "num_samples": 1, "max_new_tokens": 8, "seed": 5, "prompt": "First", **keys}
    first = sample({**common, "out": f"{tmp_path / 's1'}/"})
    again = sample({**common, "out": f"{tmp_path / 's2'}/"})
    assert _outputs(first), f"{name}: the sampler returned nothing but file names"
    assert _same(_outputs(first), _outputs(again)), f"{name}: one seed, two different samples"

    with _working_folder(tmp_path):   # it holds the data files the checkpoint names
        figures = evaluate({"ckpt": str(path), "data_root": str(tmp_path / "data"), "batch_size": 2,
                            **_knobs(fam.EvalArgs)})
    assert figures, f"{name}: evaluate returned no figures"
    assert not _finite(figures), f"{name}: figures not finite: {_finite(figures)}"


@pytest.mark.parametrize("name", families.FAMILIES)
def test_family_contract(name, tmp_path):
    check_contract(name, tmp_path)


def test_a_family_that_breaks_the_contract_fails_it(tmp_path, monkeypatch):
    """The check can fail: a gpt whose loader rebuilds the model with fresh weights (a checkpoint that
    does not round-trip) is caught."""
    real = families.get

    def fresh_weights(state, device):
        model, tok = real("gpt").load_state(state, device)
        torch.manual_seed(123)
        return type(model)(model.config).to(device).eval(), tok

    broken = replace(real("gpt"), load=fresh_weights)
    monkeypatch.setattr(families, "get", lambda name: broken if name == "gpt" else real(name))
    with pytest.raises(AssertionError, match="loaded weights differ"):
        check_contract("gpt", tmp_path)


def test_every_registered_family_is_collected():
    """The parametrisation is the registry itself, so a new name in FAMILIES is a new case here."""
    assert test_family_contract.pytestmark[0].args[1] is families.FAMILIES


def test_a_newly_registered_family_is_checked_with_no_edit_here(tmp_path):
    """In a copy of the repository, tests/example_family's bigram is added the documented way (folder,
    model YAML, one registry name) and this file, unchanged, collects and passes it."""
    repo = tmp_path / "repo"
    for top in ("seqgen", "configs", "scripts", "tests"):
        shutil.copytree(ROOT / top, repo / top, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests" / "example_family" / "bigram", repo / "seqgen" / "families" / "bigram")
    shutil.copyfile(ROOT / "tests" / "example_family" / "bigram.yaml", repo / "configs" / "model" / "bigram.yaml")
    registry = repo / "seqgen" / "families" / "__init__.py"
    text, n = re.subn(r'FAMILIES = \(([^)]*)\)', r'FAMILIES = (\1, "bigram")', registry.read_text())
    assert n == 1
    registry.write_text(text)
    res = subprocess.run([sys.executable, "-m", "pytest", "tests/families/test_contract.py", "-q", "-p",
                          "no:cacheprovider", "-k", "test_family_contract and bigram"], cwd=repo,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=300)
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]
