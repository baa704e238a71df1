"""Shared fixtures: a tiny local corpus, Hydra compose, and subprocess helpers for the real scripts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

TINY_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
) * 40


@pytest.fixture
def corpus(tmp_path) -> dict:
    """train / valid / test UTF-8 files of a few KB."""
    paths = {}
    for split, n in (("train", 1), ("valid", 2), ("test", 3)):
        p = tmp_path / f"{split}.txt"
        p.write_text(TINY_TEXT[n * 7:] if split != "train" else TINY_TEXT, encoding="utf-8")
        paths[split] = str(p)
    return paths


def compose(overrides=(), config_name="train"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def tiny_overrides(tmp_path, corpus, *extra):
    return ["model=gpt_tiny", "trainer=smoke", "data=text_files", f"data.train={corpus['train']}",
            f"data.valid={corpus['valid']}", f"data.test={corpus['test']}", f"out_root={tmp_path / 'out'}",
            f"data_root={tmp_path / 'data'}", "run_name=t", *extra]


def run_script(args, cwd=None, env=None, timeout=300, check=True):
    """Run a python script of this repo in a fresh interpreter; returns CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    res = subprocess.run([sys.executable, *args], cwd=cwd or ROOT, env=full_env, capture_output=True,
                         text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{args} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def overfit(model, batch, steps: int, lr: float = 3e-3) -> float:
    """AdamW on one batch of model.training_loss for `steps` steps -> the last loss (the "overfit one
    batch" check every trainable family passes)."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss, _ = model.training_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()
