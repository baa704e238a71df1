"""best.pt follows the lowest validation loss (nanoGPT keeps only improving checkpoints), survives a
resume, and is a checkpoint every verb loads."""

import json
import math

import torch
from torch import nn

from seqgen.app.load import load_model
from seqgen.app.train import train
from seqgen.core import distributed as D
from seqgen.core.optim import OptimConfig, build_optimizer
from seqgen.core.tracking import NullTracker
from seqgen.core.trainer import Trainer, TrainerConfig
from tests.conftest import compose, tiny_overrides


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(2, 1)

    def training_loss(self, batch):
        x, y = batch
        return ((self.w(x) - y) ** 2).mean(), None   # (loss, logits) as the models return


class _Stream:
    def next(self):
        return torch.ones(4, 2), torch.zeros(4, 1)


def _trainer(losses, saved, best_loss=math.inf, keep_best=True):
    model = _Tiny()
    scripted = iter(losses)
    cfg = TrainerConfig(max_steps=len(losses), eval_every=1, log_every=1, ckpt_every=0, progress=False,
                        peak_flops=1.0, keep_best=keep_best, device="cpu")
    optim = OptimConfig()
    return Trainer(cfg, optim, model, build_optimizer(model, optim, torch.device("cpu")), _Stream(),
                   D.DistInfo(), NullTracker(), evaluate_fn=lambda m, final: {"val/loss": next(scripted)},
                   best_fn=lambda t: saved.append((t.step, t.best_loss)), best_loss=best_loss)


def test_best_is_written_only_when_the_validation_loss_falls():
    saved = []
    t = _trainer([3.0, 2.0, 2.5, 1.9, math.nan, 2.2], saved)
    t.fit()
    assert saved == [(1, 3.0), (2, 2.0), (4, 1.9)] and t.best_loss == 1.9


def test_a_resumed_run_keeps_its_record_and_keep_best_false_writes_none():
    saved = []
    _trainer([2.5, 1.5, 1.2], saved, best_loss=1.4).fit()   # a checkpoint said 1.4 so far
    assert saved == [(3, 1.2)]
    saved.clear()
    _trainer([3.0, 2.0], saved, keep_best=False).fit()
    assert saved == []


def test_best_pt_is_the_lowest_evaluation_and_loads(tmp_path, corpus, monkeypatch):
    """A real run whose evaluations report 3.0, 2.0, 2.5, 2.4 at steps 2, 4, 6, 8 (the real figures
    with val/loss scripted): best.pt holds step 4's weights (the same as step_4.pt's) and figures, no
    optimizer, and loads and runs."""
    import seqgen.families.gpt.task as gpt_task

    scripted, real = iter([3.0, 2.0, 2.5, 2.4]), gpt_task.evaluate_lm
    monkeypatch.setattr(gpt_task, "evaluate_lm", lambda *a, **k: {**real(*a, **k), "val/loss": next(scripted)})
    res = train(compose(tiny_overrides(tmp_path, corpus, "trainer.max_steps=8", "trainer.eval_every=2")))
    run = res["run_dir"]
    evals = [d for d in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "val/loss" in d]
    assert [(d["step"], d["val/loss"]) for d in evals] == [(2, 3.0), (4, 2.0), (6, 2.5), (8, 2.4)]
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    step4 = torch.load(run / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert best["step"] == 4 and best["metrics"]["val/loss"] == best["best_loss"] == 2.0
    assert "optimizer" not in best and all(torch.equal(best["model"][k], step4["model"][k]) for k in step4["model"])
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["best_loss"] == 2.0   # for a resume
    model, tok, _ = load_model(run / "checkpoints" / "best.pt")
    assert model(torch.tensor([tok.encode("First")])).shape[-1] == tok.vocab_size
