"""Checkpoints and runs of the previous release (tests/fixtures/v1, format_version 1) under today's code:
they load and sample the same tokens, and the same runs give the same losses."""

import json
import platform
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.app.load import load_model
from tests.conftest import TINY_TEXT, compose

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _cpu_vendor() -> str:
    try:
        return next(line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("vendor_id"))
    except (OSError, StopIteration):
        return platform.processor()


# fp32 kernels differ between CPU kinds (AVX-512 on AMD and on Intel round differently): bit-identical
# where the recording was made (an AMD EPYC), 1e-5 elsewhere
SAME_MACHINE = (EXPECTED["torch"] == torch.__version__ and platform.machine() == EXPECTED["machine"]
                and EXPECTED["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
                and EXPECTED.get("cpu_vendor", "AuthenticAMD") == _cpu_vendor())


def _sample(name, model, tok, rec):
    if name == "gpt":
        from seqgen.families.gpt.generate import sample_text

        return sample_text(model, tok, "First", 20, seed=3, device="cpu", temperature=0.8, top_k=5, num_samples=2)
    if name == "ngram":
        from seqgen.families.ngram.generate import ngram_text

        return ngram_text(model, tok, "First", 12, seed=3)
    if name == "word2vec":
        from seqgen.families.word2vec.generate import word_query

        return word_query(model, "First", k=3)
    if name == "text2pixel":
        from seqgen.families.text2pixel.generate import draw

        grids = draw(model, tok, ["a red circle", "a large blue square"], model.config.caption_len, "cpu",
                     guidance=3.0, seed=5)
        return grids.tolist()
    from seqgen.families.upsampler.generate import upsample_tokens

    lo = torch.tensor(rec["input"])
    return upsample_tokens(model, lo, 1.0, None, torch.Generator().manual_seed(5), retries=1).tolist()


@pytest.mark.parametrize("name", sorted(EXPECTED["runs"]))
def test_old_checkpoint_loads_and_samples_the_same(name):
    model, tok, state = load_model(FIXTURES / f"{name}.pt")
    assert state["format_version"] == 1 and state["model_name"] == name
    assert _sample(name, model, tok, EXPECTED["runs"][name]) == EXPECTED["runs"][name]["sample"]


@pytest.mark.parametrize("name, key, then", [("text2pixel", "guidance", 3.0), ("upsampler", "decode", "sample")])
def test_settings_of_reads_what_the_old_run_used(name, key, then):
    """Family.settings_of: the v1 run's settings as the family's typed Settings, the same whether or not
    load_model patched the state first; a checkpoint lacking the block predates it (its then-default)."""
    from seqgen import families
    from seqgen.core.errors import ConfigError

    fam = families.get(name)
    raw = torch.load(FIXTURES / f"{name}.pt", weights_only=True)
    st = fam.settings_of(raw)
    assert isinstance(st, fam.Settings) and getattr(st, key) == then
    assert st == fam.settings_of(load_model(FIXTURES / f"{name}.pt")[2])
    assert "pixels" in raw["config"]   # read from a copy: the state itself is left as it was
    assert getattr(fam.settings_of({**raw, "config": {}}), key) == then
    assert fam.data_of(raw) == fam.DataConfig(**raw["config"]["data"])
    with pytest.raises(ConfigError, match="holds no data config"):
        fam.data_of({**raw, "config": {}}, "old.pt")


def scene_folder(path) -> Path:
    """64 single-shape scenes rendered by the shapes renderer (unchanged since format_version 1), as
    RGB PNGs with a metadata.jsonl: the same images whatever the scene generator's version (the image
    fixtures were recorded on this folder)."""
    from PIL import Image

    from seqgen.data.images import shapes as S

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    codec, rows = S.codec(), []
    colours, sizes, wheres, bgs = list(S.COLOURS), list(S.SIZES), list(S.ANCHORS), list(S.BACKGROUNDS)
    for i in range(64):
        scene = {"background": bgs[i % 3], "objects": [{"shape": S.SHAPES[i % 6], "colour": colours[(i // 6) % 8],
                                                        "size": sizes[i % 2], "where": wheres[i % 5]}]}
        Image.fromarray(codec.dequantize(S.render(scene))).save(path / f"{i:02d}.png")
        rows.append(json.dumps({"file_name": f"{i:02d}.png", "text": S.caption(scene)}))
    (path / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("v1work")
    for split, n in (("train", 1), ("valid", 2), ("test", 3)):
        (work / f"{split}.txt").write_text(TINY_TEXT[n * 7:] if split != "train" else TINY_TEXT)
    scene_folder(work / "scenes")
    return work


# the run keys that moved since the recording: pixels.* became the family's own block
MOVED = {"pixels.blocks_per_image": "upsampler.blocks_per_image", "pixels.retries": "upsampler.retries",
         "pixels.upsample_eval_images": "upsampler.eval_images"}


# keys whose default has changed since the recording (the model groups now give the current recipes'
# models): the recorded run, made with that release's defaults, states them. Loading the old checkpoint
# needs none of this - the families' patch steps fill the same values (tested below).
THEN = {"text2pixel": ["model.patch=1", "text2pixel.guidance=3.0"],
        "upsampler": ["model.arch=blocks", "upsampler.decode=sample"]}


def test_patch_steps_fill_the_recorded_defaults():
    from seqgen.app.load import load_model

    for name, keys in THEN.items():
        state = load_model(FIXTURES / f"{name}.pt")[2]
        for k, v in (kv.split("=") for kv in keys):
            block, key = k.split(".")
            got = state["model_config"][key] if block == "model" else state["config"][block][key]
            assert str(got) == v, (name, k, got)


def test_an_old_run_folder_is_compared_with_its_recorded_defaults(work):
    """check_same_model fills a key the checkpoint predates with that release's default (the patch
    steps), not today's: the v1 text2pixel run is the same model as its command with model.patch=1,
    and another model than today's default (2x2 patches)."""
    from seqgen import families
    from seqgen.app.train import resolve
    from seqgen.core.checkpoint import check_same_model
    from seqgen.core.errors import ConfigError

    state = torch.load(FIXTURES / "text2pixel.pt", weights_only=True)
    fam = families.get("text2pixel")
    same = resolve(compose(_overrides("text2pixel", work)))[0]
    check_same_model(same, state, "v1/text2pixel.pt", fam)
    today = resolve(compose([o for o in _overrides("text2pixel", work) if o not in THEN["text2pixel"]]))[0]
    with pytest.raises(ConfigError, match="model.patch: 1 there, 2 now"):
        check_same_model(today, state, "v1/text2pixel.pt", fam)


def _overrides(name, work):
    out = list(THEN.get(name, []))
    for o in EXPECTED["runs"][name]["overrides"]:
        key, value = o.replace("{work}", str(work)).split("=", 1)
        if key.startswith("pixels."):
            key = MOVED.get(key, key.replace("pixels.", f"{name}."))
        out.append(f"{key}={value}")
    return out


@pytest.mark.parametrize("name", ["gpt", "text2pixel", "upsampler"])
def test_same_seed_same_losses_as_before(name, work):
    from seqgen.app.train import train

    shutil.rmtree(work / "out" / name, ignore_errors=True)
    train(compose(_overrides(name, work)))
    rows = [json.loads(line) for line in (work / "out" / name / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    want = EXPECTED["runs"][name]["losses"]
    if SAME_MACHINE:
        assert losses == want
    else:
        np.testing.assert_allclose(losses, want, rtol=1e-5)


@pytest.mark.parametrize("name", ["word2vec", "ngram"])
def test_a_run_folder_of_the_previous_release_is_refitted(name, work):
    """Keys added since (word2vec's hs / backend) count as their defaults: the same model refits over
    the old folder's checkpoint instead of being refused (or crashing on the missing key)."""
    from seqgen.app.train import train

    overrides = _overrides(name, work)
    run = work / "out" / name
    shutil.rmtree(run, ignore_errors=True)
    (run / "checkpoints").mkdir(parents=True)
    shutil.copyfile(FIXTURES / f"{name}.pt", run / "checkpoints" / "step_0000006.pt")
    result = train(compose(overrides))
    assert result["checkpoint"].is_file()
