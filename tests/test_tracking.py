"""Tracking: metrics.jsonl always, wandb offline without a key, TensorBoard event files."""

import json

from seqgen.run import train
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
    from seqgen import checkpoint as ckpt

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
