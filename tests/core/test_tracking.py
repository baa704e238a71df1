"""Tracking: metrics.jsonl always, wandb offline without a key, TensorBoard event files."""

import json

from seqgen.app.train import train
from tests.conftest import compose, tiny_overrides


def test_metrics_jsonl(tmp_path, corpus):
    result = train(compose(tiny_overrides(tmp_path, corpus)))
    rows = [json.loads(line) for line in (result["run_dir"] / "metrics.jsonl").read_text().splitlines()]
    assert any("train/loss" in r for r in rows) and any("val/bpc" in r for r in rows)


def test_wandb_offline_without_key(tmp_path, corpus, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = train(compose(tiny_overrides(tmp_path, corpus, "logger=wandb", "trainer.max_steps=4")))
    runs = list((result["run_dir"] / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    from seqgen.core import checkpoint as ckpt

    run_id = ckpt.load(result["checkpoint"])["tracker"]["wandb_id"]
    assert runs[0].name.endswith(run_id)
    again = train(compose(tiny_overrides(tmp_path, corpus, "logger=wandb", "trainer.max_steps=8")))
    assert ckpt.load(again["checkpoint"])["tracker"]["wandb_id"] == run_id  # the same wandb run resumes


def test_tensorboard_event_file(tmp_path, corpus):
    result = train(compose(tiny_overrides(tmp_path, corpus, "logger=tensorboard")))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(result["run_dir"] / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    assert "train/loss" in acc.Tags()["scalars"] and "val/bpc" in acc.Tags()["scalars"]
    assert any("samples" in t for t in acc.Tags()["tensors"])


def _records(wandb_run, wait: float = 20.0) -> bytes:
    """The offline run file; wandb's service process may still be writing it when finish() returns
    on a busy machine, so wait (bounded) until it holds more than its header."""
    import time

    path = next(wandb_run.glob("run-*.wandb"))
    deadline = time.monotonic() + wait
    while len(path.read_bytes()) < 64 and time.monotonic() < deadline:
        time.sleep(0.2)
    return path.read_bytes()


def test_dashboards_carry_curves_images_and_text(tmp_path, monkeypatch):
    """logger=all: TensorBoard gets scalars, the sample grid and text; wandb (offline) gets the config,
    the curves, the image grid and a text-sample table."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    common = ["trainer=smoke", "trainer.max_steps=4", "trainer.eval_every=4", "trainer.sample_every=4",
              f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", "logger=all"]
    image_run = train(compose(["experiment=text2pixel_shapes", *common, "data.n_train=24", "data.n_valid=4",
                               "data.n_test=4", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
                               "trainer.batch_size=2", "text2pixel.eval_images=4", "text2pixel.fidelity_images=0",
                               "text2pixel.sample_images=2", "run_name=img"]))
    acc = EventAccumulator(str(image_run["run_dir"] / "tensorboard"), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    assert {"train/loss", "valid/bits_per_pixel"} <= set(acc.Tags()["scalars"])
    assert "samples" in acc.Tags()["images"]
    png = acc.Images("samples")[-1].encoded_image_string
    assert png.startswith(b"\x89PNG")
    wandb_run = next((image_run["run_dir"] / "wandb").glob("offline-run-*"))
    assert list(wandb_run.glob("files/media/images/samples_*.png"))
    record = _records(wandb_run)   # offline: the run's records, synced later
    assert b"valid/bits_per_pixel" in record and b"fidelity_images" in record   # a curve and the config
    text_run = train(compose(["model=gpt_tiny", *common, "data=text_files", "run_name=txt",
                              *[f"data.{k}={v}" for k, v in _corpus(tmp_path).items()]]))
    acc = EventAccumulator(str(text_run["run_dir"] / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    assert any("samples" in t for t in acc.Tags()["tensors"])       # add_text is stored as a tensor
    wandb_run = next((text_run["run_dir"] / "wandb").glob("offline-run-*"))
    assert list(wandb_run.glob("files/media/table/samples_*.table.json"))
    assert b"table-file" in _records(wandb_run)


def _corpus(tmp_path):
    from tests.conftest import TINY_TEXT

    paths = {}
    for split in ("train", "valid", "test"):
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_text(TINY_TEXT, encoding="utf-8")
    return paths
