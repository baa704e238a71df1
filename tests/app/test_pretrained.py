"""Pretrained folders: every family's tiny run goes checkpoint -> folder -> model and samples and
evaluates the same, with no pickle; folders whose weights and config disagree are refused in one line;
a Hub id resolves through huggingface_hub's own cache in offline mode; the model card has the run's
figures."""

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.app.evaluate import evaluate
from seqgen.app.load import load_model, load_state
from seqgen.app.pretrained import save_pretrained
from seqgen.app.sample import sample
from seqgen.core import pretrained
from seqgen.core.errors import CheckpointError
from tests.app.test_compat import scene_folder
from tests.conftest import TINY_TEXT, compose, run_script

TEXT = ["data=text_files", "data.train={w}/train.txt", "data.valid={w}/valid.txt", "data.test={w}/test.txt"]
IMAGES = ["data=imagefolder", "data.path={w}/scenes", "data.palette_size=11"]
SMOKE = ["trainer=smoke", "trainer.max_steps=2", "trainer.eval_every=0", "trainer.ckpt_every=0"]
RUNS = {   # tiny runs through train(), each a few seconds
    "gpt": TEXT + SMOKE + ["model=gpt_tiny", "model.n_layer=1", "model.n_embd=16", "model.n_head=2"],
    "ngram": TEXT + ["model=ngram", "model.order=3", "data.tokenizer=word"],
    "word2vec": TEXT + ["model=word2vec", "data.tokenizer=word", "model.vector_size=8", "model.epochs=1",
                        "model.min_count=1", "model.eval_sets=false", "model.workers=1"],
    "text2pixel": IMAGES + SMOKE + ["model=text2pixel", "model.n_layer=1", "model.n_embd=16", "model.n_head=2",
                                    "text2pixel.eval_images=2", "text2pixel.fidelity_images=0",
                                    "text2pixel.sample_images=1", "text2pixel.baseline=false"],
    "upsampler": IMAGES + SMOKE + ["model=upsampler", "model.n_layer=1", "model.n_embd=16", "model.n_head=2",
                                   "trainer.batch_size=2", "upsampler.blocks_per_image=8", "upsampler.eval_images=1",
                                   "upsampler.sample_images=1"],
    "video_texture": ["model=video_texture", "data=pendulum", "data.n_frames=60", "video_texture.eval_frames=200",
                      "video_texture.sample_frames=10"],
    "visual_prompt": ["experiment=visual_prompt_shapes", *SMOKE, "trainer.batch_size=2", "model.n_layer=1",
                      "model.n_embd=32", "model.n_head=2", "data.n_valid=4", "data.n_test=2",
                      "visual_prompt.eval_sentences=2", "visual_prompt.score_sentences=1"],
}
SAMPLE = {"gpt": {"max_new_tokens": 20, "num_samples": 2, "prompt": "First"}, "ngram": {"max_new_tokens": 12},
          "word2vec": {"prompt": "First"}, "text2pixel": {"prompt": "a red circle"},
          "upsampler": {"image": "{w}/lo.png"},
          "video_texture": {"frames": 12, "format": "png"}, "visual_prompt": {"task": "recolour", "shots": 1}}
EVAL = {"gpt": {}, "ngram": {}, "word2vec": {}, "text2pixel": {"images": 2, "fidelity_images": 0},
        "upsampler": {"images": 1}, "video_texture": {"frames": 300, "ablations": False},
        "visual_prompt": {"sentences": 1, "shots": [1], "canvas": False, "analogy": False, "compositions": False}}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = tmp_path_factory.mktemp("pretrained")
    for split, n in (("train", 1), ("valid", 2), ("test", 3)):
        (w / f"{split}.txt").write_text(TINY_TEXT[n * 7:] if split != "train" else TINY_TEXT)
    scene_folder(w / "scenes")
    from PIL import Image

    with Image.open(w / "scenes" / "00.png") as im:
        im.resize((32, 32), Image.NEAREST).save(w / "lo.png")
    return w


_RUNS: dict = {}


def run_of(name, work) -> Path:
    """The tiny run's last.pt (trained once per module)."""
    if name not in _RUNS:
        from seqgen.app.train import train

        over = [o.replace("{w}", str(work)) for o in RUNS[name]]
        result = train(compose(over + [f"out_root={work}/out", f"data_root={work}/data", f"run_name={name}"]))
        _RUNS[name] = Path(result["checkpoint"])
    return _RUNS[name]


def same(a, b, where="state") -> None:
    """Deep equality of checkpoint values: types (tuple stays tuple), tensors bit for bit."""
    def kind(v):      # a state_dict's OrderedDict comes back a dict
        return dict if isinstance(v, dict) else type(v)
    assert kind(a) is kind(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=where)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__"):          # e.g. the palette codec a sampler returns
        same(vars(a), vars(b), f"{where}.{type(a).__name__}")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} vs {b!r}"


# the tiny image runs draw and score images at the end of training (~1 min each on 2 busy cores): the fast
# suite covers text2pixel and the upsampler through the v1 fixtures below
SLOW = ("text2pixel", "upsampler")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in RUNS])
def test_round_trip_samples_and_evaluates_the_same(name, work, tmp_path, monkeypatch):
    ckpt = run_of(name, work)
    folder = save_pretrained(ckpt, tmp_path / name, evaluate=False)
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "README.md"} <= files and not any(f.endswith(".pt") for f in files)
    want = load_state(ckpt)
    for key in pretrained.TRAINING_ONLY:
        want.pop(key, None)

    def no_pickle(*a, **k):
        raise AssertionError("a pretrained folder must load without unpickling anything")
    with monkeypatch.context() as m:     # loading reads safetensors + JSON only
        m.setattr(torch, "load", no_pickle)
        m.setattr(pickle, "load", no_pickle)
        m.setattr(pickle, "loads", no_pickle)
        got = load_state(folder)
        load_model(folder)
    same(want, got)

    def draw(src, out):
        keys = {k: v.replace("{w}", str(work)) if isinstance(v, str) else v for k, v in SAMPLE[name].items()}
        r = sample({"ckpt": str(src), "seed": 3, "out": str(out) + "/", **keys})
        return {k: v for k, v in r.items() if k != "out" and "seconds" not in k and not isinstance(v, Path)}
    same(draw(ckpt, tmp_path / "a"), draw(folder, tmp_path / "b"), "samples")
    e1, e2 = (evaluate({"ckpt": str(src), "data_root": str(work / "data"), **EVAL[name]}) for src in (ckpt, folder))
    def timeless(e):
        return {k: v for k, v in e.items() if "seconds" not in k and not k.endswith("_s")}
    same(timeless(e1), timeless(e2), "evaluation")


@pytest.mark.parametrize("name", ["gpt", "ngram", "word2vec", "text2pixel", "upsampler"])
def test_a_previous_release_checkpoint_travels_and_samples_the_same(name, tmp_path):
    """The format_version 1 fixtures: folder -> model draws what tests/app/test_compat.py recorded."""
    from tests.app.test_compat import EXPECTED, FIXTURES, _sample

    folder = save_pretrained(FIXTURES / f"{name}.pt", tmp_path / name, evaluate=False)
    old = load_model(FIXTURES / f"{name}.pt")[2]     # with the family's named patches applied, as exported
    same({k: v for k, v in old.items() if k not in pretrained.TRAINING_ONLY}, load_state(folder))
    model, tok, _ = load_model(folder)
    assert _sample(name, model, tok, EXPECTED["runs"][name]) == EXPECTED["runs"][name]["sample"]


def test_extra_files_other_tools_read(work, tmp_path):
    """n-gram: the ARPA file beside the tables; word2vec: the word2vec text file (gensim loads it)."""
    from seqgen.families.ngram.io import read_arpa

    ng = save_pretrained(run_of("ngram", work), tmp_path / "ng", evaluate=False)
    model, _, _ = load_model(ng)
    arpa = read_arpa(ng / "model.arpa")
    assert [len(k) for k in arpa.keys] == [len(k) for k in model.keys]
    w2v = save_pretrained(run_of("word2vec", work), tmp_path / "w2v", evaluate=False)
    lines = (w2v / "vectors.txt").read_text().splitlines()
    n, dim = map(int, lines[0].split())
    assert dim == 8 and n == len(lines) - 1 == len(load_model(w2v)[0].vocab)


def test_model_card_has_the_runs_real_figures(work, tmp_path):
    ckpt = run_of("gpt", work)
    folder = save_pretrained(ckpt, tmp_path / "gpt", data_root=str(work / "data"))
    card = (folder / "README.md").read_text()
    config = json.loads((folder / "config.json").read_text())
    figures = evaluate({"ckpt": str(ckpt), "data_root": str(work / "data")})
    assert card.startswith("---\nlibrary_name: seqgen\nlicense: mit\npipeline_tag: text-generation\n")
    for key in ("bpc", "bits_per_token"):
        assert f"| {key} | {figures[key]:.4f} |" in card and config["evaluation"][key] == figures[key]
    state = load_state(ckpt)
    assert f"{state['train_seconds']:.1f} s" in card and state["hardware"] in card
    sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert config["weights_sha256"] == sha and sha in card
    # the command in the card composes to this run's config (keys that name where it lived aside)
    line = card.split("```bash\n", 1)[1].split("\n", 1)[0]
    assert line.startswith("python scripts/train.py model=gpt data=text_files ")
    from omegaconf import OmegaConf

    rebuilt = OmegaConf.to_container(compose(line.split()[2:]), resolve=True)
    for k in ("run_name", "out_root", "data_root"):
        rebuilt.pop(k), state["config"].pop(k)
    assert rebuilt == state["config"]
    assert config["family"] == "gpt" and config["data"]["name"] == "text_files" and config["num_params"] > 0
    # not evaluated: the card says so and shows the figures logged in training
    bare = (save_pretrained(ckpt, tmp_path / "bare", evaluate=False) / "README.md").read_text()
    assert "Not evaluated when this folder was written (evaluate=false)" in bare
    assert f"| val/loss | {state['metrics']['val/loss']:.4f} |" in bare


def _one_line_refusal(folder, match):
    with pytest.raises(CheckpointError, match=match) as e:
        load_model(folder)
    assert "\n" not in str(e.value)


def test_refuses_a_folder_whose_weights_and_config_disagree(work, tmp_path):
    from safetensors.torch import load_file, save_file

    src = save_pretrained(run_of("gpt", work), tmp_path / "ok", evaluate=False)

    def copy(name):
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst, json.loads((dst / "config.json").read_text())
    bad, config = copy("shape")          # config.json says another shape
    config["checkpoint"]["model"]["wte.weight"]["shape"][0] += 1
    (bad / "config.json").write_text(json.dumps(config))
    _one_line_refusal(bad, r"weights and config disagree: tensor 'wte.weight' is F32 \[\d+, 16\]")
    bad, _ = copy("missing")             # a tensor gone from the weights
    tensors = load_file(bad / "model.safetensors")
    tensors.pop("ln_f.weight")
    save_file(tensors, bad / "model.safetensors")
    _one_line_refusal(bad, "weights and config disagree: 1 tensor.* not in model.safetensors .*'ln_f.weight'")
    bad, config = copy("model_config")   # the model config describes another model
    config["model_config"]["n_embd"] = 32
    (bad / "config.json").write_text(json.dumps(config))
    _one_line_refusal(bad, "weights and config disagree: the tensors in model.safetensors do not build the gpt")
    bad, _ = copy("truncated")
    (bad / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes()[:100])
    _one_line_refusal(bad, "cannot read .*model.safetensors")
    bad, _ = copy("tokenizer")           # probe round 3: a cut tokenizer.json was blamed on the weights
    (bad / "tokenizer.json").write_text((src / "tokenizer.json").read_text()[:20])
    _one_line_refusal(bad, "tokenizer.json is not the file saved with these weights .*sha256")
    bad, config = copy("old_tokenizer")  # a folder without files_sha256 (an earlier seqgen): parsed, named
    del config["files_sha256"]
    (bad / "config.json").write_text(json.dumps(config))
    (bad / "tokenizer.json").write_text((src / "tokenizer.json").read_text()[:20])
    _one_line_refusal(bad, "its tokenizer.json is damaged .*not valid JSON")
    bad, _ = copy("permuted")            # valid JSON, same size, two characters swapped: silent without the digest
    tok = json.loads((src / "tokenizer.json").read_text())
    tok["chars"][1], tok["chars"][2] = tok["chars"][2], tok["chars"][1]
    (bad / "tokenizer.json").write_text(json.dumps(tok))
    _one_line_refusal(bad, "tokenizer.json is not the file saved with these weights")


@pytest.mark.parametrize("family", ["gpt", "ngram"])
def test_a_checkpoint_whose_tokenizer_is_not_its_models_is_refused(work, tmp_path, family):
    """Probe round 3: a last.pt carrying a smaller tokenizer than its model evaluated to a perplexity over
    ids the tokenizer never produces, silently. Each family knows how its vocabulary relates to the
    tokenizer's (GPT: equal; n-gram: the tokenizer's entries in order, then <s>, </s>)."""
    from seqgen.core import checkpoint as ckpt
    from seqgen.data.tokenizer import Tokenizer

    src = run_of(family, work)
    state = load_state(src)
    tok = json.loads(state["tokenizer"])
    field = {"char": "chars", "word": "words"}[tok["kind"]]
    entries = tok[field]
    assert Tokenizer.from_json(state["tokenizer"]).vocab_size == len(entries) > 3
    for name, changed in (("smaller", entries[:-1]), ("reordered", [entries[0], entries[2], entries[1],
                                                                     *entries[3:]])):
        bad = tmp_path / f"{name}.pt"
        ckpt.save({**state, "tokenizer": json.dumps({**tok, field: changed})}, bad)
        if family == "gpt" and name == "reordered":   # same size: only a pretrained folder's digest sees it
            load_model(bad)
            continue
        _one_line_refusal(bad, "its tokenizer is not the model's")


def _hub_cache(root: Path, repo: str, folder: Path) -> str:
    """A Hub cache with `folder` as repo's main, laid out the way hf_hub_download writes it: blobs named by
    their hash, snapshots/<commit>/ of relative symlinks, refs/main holding the commit."""
    commit = hashlib.sha1(repo.encode()).hexdigest()
    base = root / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    (base / "blobs").mkdir()
    for f in folder.iterdir():
        blob = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, base / "blobs" / blob)
        os.symlink(os.path.relpath(base / "blobs" / blob, snap), snap / f.name)
    return commit


def test_a_hub_id_resolves_offline_through_the_hub_cache(work, tmp_path):
    """The real scripts, huggingface_hub's real snapshot_download, HF_HUB_OFFLINE=1 and a cache of our
    own: sample.py / evaluate.py take ckpt=hf:user/repo[@revision] and give what the folder gives."""
    ckpt = run_of("gpt", work)
    folder = save_pretrained(ckpt, tmp_path / "tiny-gpt", evaluate=False)
    cache = tmp_path / "hub"
    commit = _hub_cache(cache, "someone/tiny-gpt", folder)
    env = {"HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hfhome"), "HF_HUB_OFFLINE": "1"}
    outs = []
    for spec in (str(folder), "hf:someone/tiny-gpt", f"hf:someone/tiny-gpt@{commit}"):
        out = tmp_path / f"s{len(outs)}.txt"
        run_script(["scripts/sample.py", f"ckpt={spec}", "seed=5", "max_new_tokens=30", f"out={out}"], env=env)
        outs.append(out.read_text())
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) > 30
    res = run_script(["scripts/evaluate.py", "ckpt=hf:someone/tiny-gpt", f"data_root={work / 'data'}"], env=env)
    direct = evaluate({"ckpt": str(ckpt), "data_root": str(work / "data")})
    assert json.loads(res.stdout.strip().splitlines()[-1])["bpc"] == direct["bpc"]
    res = run_script(["scripts/sample.py", "ckpt=hf:someone/other"], env=env, check=False)
    assert res.returncode == 2 and "not in the local Hub cache" in res.stderr


def test_from_pretrained_samples_and_saves_again(work, tmp_path):
    import seqgen

    ckpt = run_of("gpt", work)
    folder = seqgen.save_pretrained(ckpt, tmp_path / "one", evaluate=False)
    m = seqgen.from_pretrained(str(folder))
    a = m.sample(seed=1, max_new_tokens=15, out=str(tmp_path / "a.txt"))["texts"]
    again = m.save_pretrained(tmp_path / "two", evaluate=False)
    b = seqgen.from_pretrained(str(again)).sample(seed=1, max_new_tokens=15, out=str(tmp_path / "b.txt"))["texts"]
    assert a == b == sample({"ckpt": str(ckpt), "seed": 1, "max_new_tokens": 15, "out": str(tmp_path / "c.txt")})[
        "texts"]
    assert (tmp_path / "one" / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()


def test_export_script_writes_a_folder(work, tmp_path):
    ckpt = run_of("ngram", work)
    out = tmp_path / "ng"
    res = run_script(["scripts/export.py", f"ckpt={ckpt}", "format=pretrained", f"out={out}",
                      f"data_root={work / 'data'}"])
    assert "written:" in res.stdout and pretrained.is_folder(out) and (out / "model.arpa").is_file()
    figures = evaluate({"ckpt": str(ckpt), "data_root": str(work / "data")})
    assert f"| ppl | {figures['ppl']:.4f} |" in (out / "README.md").read_text()
    res = run_script(["scripts/export.py", f"ckpt={ckpt}", "format=nope", f"out={tmp_path / 'x'}"], check=False)
    assert res.returncode == 2 and "'pretrained'" in res.stderr


def test_zoo_rows_compose_and_the_table_lists_them():
    """Every zoo row's command composes (its experiment exists, its keys are valid) and names a metric;
    rows with a figure carry the sha256 and size measured with it."""
    from seqgen.app import zoo
    from seqgen.families import FAMILIES

    table = zoo.table()
    for row in zoo.ROWS:
        cfg = compose(list(row.overrides))
        assert cfg.model.name == row.family in FAMILIES and f"row={row.name}`" in table
        if row.value is not None:
            assert len(row.sha256) == 64 and row.params > 0 and row.cpu_seconds > 0
        else:
            assert "not trained this session" in row.note
    with pytest.raises(Exception, match="no zoo row 'nope'"):
        zoo.get("nope")


def test_export_never_writes_over_another_folder(work, tmp_path):
    """A folder format onto an earlier export is refused unless overwrite=true, which replaces the old
    export's files (no n-gram model.arpa left beside a GPT); an unrelated folder or a file is refused."""
    from seqgen.app.export import export
    from seqgen.core.errors import ConfigError

    out = tmp_path / "m"
    export({"ckpt": str(run_of("ngram", work)), "format": "pretrained", "out": str(out), "evaluate": False})
    assert (out / "model.arpa").is_file()
    gpt = {"ckpt": str(run_of("gpt", work)), "format": "pretrained", "out": str(out), "evaluate": False}
    with pytest.raises(ConfigError, match=r"holds an earlier export .*overwrite=true"):
        export(gpt)
    assert load_model(out)[2]["model_name"] == "ngram"          # untouched
    export({**gpt, "overwrite": True})
    assert load_model(out)[2]["model_name"] == "gpt" and not (out / "model.arpa").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"holding other files \(notes.txt\)"):
        export({**gpt, "out": str(mine), "overwrite": True})
    assert (mine / "notes.txt").read_text() == "keep me"
    res = run_script(["scripts/export.py", f"ckpt={gpt['ckpt']}", "format=pretrained", f"out={mine / 'notes.txt'}",
                      "evaluate=false"], check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "is a file" in res.stderr
