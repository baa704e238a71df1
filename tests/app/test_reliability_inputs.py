"""Nothing lost, nothing silent (inputs): bad checkpoints, invalid values, full or unwritable disks,
replaced or broken images, sample outputs. Each bad input ends in one line naming the key or file,
exit status 2, no traceback, and nothing written."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.app import cli
from seqgen.app.train import train
from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import CheckpointError
from tests.conftest import compose, run_script, tiny_overrides


class Payload:
    """An object whose unpickling would run code (here, harmlessly, a print)."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import TINY_TEXT

    root = tmp_path_factory.mktemp("trained")
    corpus = {}
    for split, n in (("train", 1), ("valid", 2), ("test", 3)):
        (root / f"{split}.txt").write_text(TINY_TEXT[n * 7:] if split != "train" else TINY_TEXT)
        corpus[split] = str(root / f"{split}.txt")
    result = train(compose(tiny_overrides(root, corpus)))
    return root, corpus, result["checkpoint"]


def _bad_checkpoints(folder: Path, good: Path) -> dict:
    state = torch.load(good, weights_only=True)
    files = {"empty.pt": b"", "text.pt": b"not a checkpoint at all\n"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    torch.save({"model": {"w": torch.zeros(2)}}, folder / "foreign.pt")
    torch.save({"format_version": 1, "model_name": "gpt", "x": Payload()}, folder / "malicious.pt")
    torch.save({k: v for k, v in state.items() if k != "model_config"}, folder / "nofield.pt")
    torch.save({**state, "model_name": "no_such_family"}, folder / "unknown.pt")
    return {"empty.pt": "is empty", "text.pt": "truncated, corrupt or not a torch checkpoint",
            "foreign.pt": "not a seqgen checkpoint", "malicious.pt": "can run code",
            "nofield.pt": "field 'model_config' is missing", "unknown.pt": "unknown model 'no_such_family'"}


def test_bad_checkpoints_are_one_clear_line_in_every_script(tmp_path, trained):
    expected = _bad_checkpoints(tmp_path, trained[2])
    for name, message in expected.items():
        with pytest.raises(Exception, match=message):   # the library says the same
            from seqgen.app.load import load_model

            load_model(tmp_path / name)
        for script, args in (("sample.py", []), ("evaluate.py", []), ("export.py", ["format=arpa", "out=x.arpa"])):
            res = run_script([f"scripts/{script}", f"ckpt={tmp_path / name}", *args], check=False)
            assert res.returncode == 2, (name, script, res.stderr)
            assert message in res.stderr and name in res.stderr, (name, script, res.stderr)
            assert "Traceback" not in res.stderr and "this ran while loading" not in res.stdout
            assert "weights_only=False" not in res.stderr.replace("do not open it with weights_only=False", "")


def test_a_zero_length_newest_checkpoint_resumes_from_the_one_before(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    folder = tmp_path / "out" / "t" / "checkpoints"
    ckpt.step_path(folder, 9).write_bytes(b"")
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=10")])
    assert "is empty (0 bytes)" in res.stdout and "(step 8)" in res.stdout


# ---- invalid values: exit 2, one line naming the key, no traceback, nothing written ----------------

TRAIN_BAD = [("trainer.max_steps=0", "trainer.max_steps"), ("trainer.batch_size=0", "trainer.batch_size"),
             ("trainer.grad_accum=0", "trainer.grad_accum"), ("trainer.log_every=0", "trainer.log_every"),
             ("trainer.ckpt_every=-1", "trainer.ckpt_every"), ("model.block_size=0", "model.block_size"),
             ("model.dropout=1.5", "model.dropout"), ("optim.lr=0", "optim.lr"), ("optim.lr=-1", "optim.lr"),
             ("trainer.precision=half", "trainer.precision"), ("data.tokenizer=bytes", "data.tokenizer"),
             ("logger=none", None), ("logger.name=mlflow", "logger.name"), ("model.n_layers=3", "model.n_layers"),
             ("trainer.max_step=3", "trainer.max_step"), ("seeed=1", "seeed"), ("data.train_frac=0", "data.train_frac")]


@pytest.mark.parametrize("override, key", [b for b in TRAIN_BAD if b[1]])
def test_invalid_train_values(tmp_path, corpus, capsys, override, key):
    args = cli.prepare_argv(cli.TRAIN_GROUPS, ["train.py", *tiny_overrides(tmp_path, corpus), override])[1:]
    with pytest.raises(SystemExit) as e:
        cli.run(train, compose(args))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and err[0].startswith("error: "), err
    assert not (tmp_path / "out").exists()


def test_model_shape_errors_name_the_keys(tmp_path, corpus, capsys):
    with pytest.raises(SystemExit):
        cli.run(train, compose(tiny_overrides(tmp_path, corpus, "model.n_embd=30", "model.n_head=4")))
    assert "model.n_embd=30 must be divisible by model.n_head=4" in capsys.readouterr().err


def test_rope_head_size_is_checked_at_config_time(tmp_path, corpus, capsys):
    """n_embd=100 with 4 heads (the word2vec vector size) gives 25-dim heads that RoPE cannot rotate:
    one line naming both keys and a fix, before any data or run folder is touched (was a traceback
    in apply_rope)."""
    with pytest.raises(SystemExit) as e:
        cli.run(train, compose(tiny_overrides(tmp_path, corpus, "model.n_embd=100", "model.n_head=4")))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.n_embd=100" in err[0] and "model.n_head=4" in err[0], err
    assert "25-dim heads" in err[0] and "model.n_head=5" in err[0] and "model.rope=false" in err[0]
    assert not (tmp_path / "out").exists()
    # the same width with a learned position table, or with 5 heads, is valid
    from seqgen.families.gpt.model import GPT
    GPT.Config(n_embd=100, n_head=4, rope=False)
    GPT.Config(n_embd=100, n_head=5)


SAMPLE_BAD = [("top_p=0", "top_p"), ("top_p=1.5", "top_p"), ("top_k=-1", "top_k"), ("top_k=0", "top_k"),
              ("max_new_tokens=-1", "max_new_tokens"), ("num_samples=0", "num_samples"),
              ("temperature=-1", "temperature"), ("guidance=3", "guidance"), ("device=tpu", "device"),
              ("prompt=", "prompt")]


@pytest.mark.parametrize("override, key", SAMPLE_BAD)
def test_invalid_sample_values(tmp_path, trained, capsys, override, key):
    from seqgen.app.sample import sample

    out = tmp_path / "s.txt"
    values = {"ckpt": str(trained[2]), "out": str(out), **dict([override.split("=", 1)])}
    values = {k: (int(v) if v.lstrip("-").isdigit() else float(v) if v.replace(".", "").lstrip("-").isdigit() else v)
              for k, v in values.items()}
    with pytest.raises(SystemExit) as e:
        cli.run(sample, values)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and key in err[0], err
    assert not out.exists()


def test_invalid_values_through_the_real_scripts(tmp_path, trained):
    root, corpus, last = trained
    cases = [(["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=0")], "trainer.max_steps"),
             (["scripts/sample.py", f"ckpt={last}", "top_p=0"], "top_p"),
             (["scripts/sample.py", f"ckpt={last}", "guidence=2"], "guidence"),
             (["scripts/evaluate.py", f"ckpt={last}", "batch_size=0"], "batch_size"),
             (["scripts/evaluate.py", f"ckpt={last}", "imges=3"], "imges"),
             (["scripts/export.py", f"ckpt={last}", "format=onnx", f"out={tmp_path / 'x'}"], "format"),
             (["scripts/synthesize.py", "epsilon=-1", f"out={tmp_path / 'x.png'}"], "epsilon"),
             (["scripts/synthesize.py", "size=0", f"out={tmp_path / 'x.png'}"], "size")]
    for args, key in cases:
        res = run_script(args, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and key in lines[-1], (args, res.stderr)
        assert "Traceback" not in res.stderr, (args, res.stderr)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("x*"))


# ---- disks -------------------------------------------------------------------------------------------

def test_a_full_disk_is_said_in_words_and_leaves_no_temp_file(tmp_path, monkeypatch):
    state = {"model_name": "gpt", "model_config": {}, "model": {"w": torch.zeros(1000)}, "step": 1}
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(CheckpointError, match="no space left on the device.*MiB free"):
        ckpt.save(state, tmp_path / "c" / "step_0000001.pt")
    assert not list((tmp_path / "c").glob("*.tmp"))
    monkeypatch.undo()

    def torch_save_fails(obj, f):   # the disk fills up while writing
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", torch_save_fails)
    with pytest.raises(CheckpointError, match="no space left on the device; the previous checkpoints are intact"):
        ckpt.save(state, tmp_path / "c" / "step_0000002.pt")
    assert not list((tmp_path / "c").glob("*.tmp")) and not (tmp_path / "c" / "step_0000002.pt").exists()


def test_a_real_tiny_tmpfs_fills_up(tmp_path, corpus):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.system(f"mount -t tmpfs -o size=64k tmpfs {mnt} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, f"out_root={mnt}")], check=False)
        assert res.returncode == 2 and "no space left on the device" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and not list(mnt.rglob("*.tmp"))
    finally:
        os.system(f"umount {mnt}")


def test_an_unwritable_run_folder_fails_before_training(tmp_path, corpus, monkeypatch):
    real = Path.write_bytes

    def no_write(self, data):
        if self.name.startswith(".write_test"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", no_write)
    with pytest.raises(CheckpointError, match="cannot write checkpoints into .*Permission denied"):
        train(compose(tiny_overrides(tmp_path, corpus)))
    assert not (tmp_path / "out" / "t" / "config.yaml").exists()


# ---- images --------------------------------------------------------------------------------------------

def _folder(path: Path, colours) -> Path:
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, c in enumerate(colours):
        Image.fromarray(np.full((40, 40, 3), c, np.uint8)).save(path / f"{i}.png")
        rows.append(json.dumps({"file_name": f"{i}.png", "text": f"a picture number {i}"}))
    (path / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return path


def test_replaced_images_are_prepared_anew(tmp_path):
    from PIL import Image

    from seqgen.core.schema import build
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images, prepared_dir

    folder = _folder(tmp_path / "imgs", [(200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 90)])
    cfg = build(ImageDataConfig, {"name": "imagefolder", "path": str(folder), "palette_size": 4, "size": 8}, "data")
    first = prepare_images(cfg, tmp_path / "data", verbose=False)
    Image.fromarray(np.full((40, 40, 3), (250, 250, 0), np.uint8)).save(folder / "1.png")   # same name
    assert prepared_dir(cfg, tmp_path / "data") != first.dir
    second = prepare_images(cfg, tmp_path / "data", verbose=False)
    assert not np.array_equal(first.codec.palette, second.codec.palette)


def test_a_broken_image_is_named(tmp_path):
    from seqgen.core.errors import DataError
    from seqgen.core.schema import build
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    folder = _folder(tmp_path / "imgs", [(200, 0, 0), (0, 200, 0), (0, 0, 200)])
    (folder / "1.png").write_bytes((folder / "1.png").read_bytes()[:60])      # truncated
    cfg = build(ImageDataConfig, {"name": "imagefolder", "path": str(folder), "palette_size": 3, "size": 8}, "data")
    with pytest.raises(DataError, match=r"1\.png: not a readable image"):
        prepare_images(cfg, tmp_path / "data", verbose=False)


# ---- sample outputs --------------------------------------------------------------------------------------

def test_sample_out_may_be_a_folder_and_a_bad_path_fails_before_drawing(tmp_path, trained):
    last = trained[2]
    folder = tmp_path / "outs"
    folder.mkdir()
    res = run_script(["scripts/sample.py", f"ckpt={last}", "max_new_tokens=5", f"out={folder}"])
    assert (folder / "sample_seed1337.txt").is_file() and "written to" in res.stdout
    res = run_script(["scripts/sample.py", f"ckpt={last}", "max_new_tokens=5", f"out={tmp_path / 'x.png'}"],
                     check=False)
    assert res.returncode == 2 and "writes .txt" in res.stderr and not (tmp_path / "x.png").exists()
