"""What every trained family shares once its data and model exist.

A family's `make_task(ctx)` returns a `Task` (model, batch stream, evaluation and sample callbacks,
extra checkpoint keys); `run_task` adds the optimizer, exact resume, checkpoints and the Trainer.
Families fitted without gradients (`fit(ctx)`: counting, their own loop, non-parametric) save with
`save_fitted`. Knows no family.
"""

from __future__ import annotations

import json
import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqgen.core import checkpoint as ckpt
from seqgen.core import distributed as D
from seqgen.core.config import RunSpec
from seqgen.core.errors import CheckpointError, Stopped
from seqgen.core.optim import build_optimizer
from seqgen.core.trainer import StopRequest, Trainer


@dataclass
class RunContext:
    """What a family's make_task / fit gets: the validated config, the processes, where to write."""

    spec: RunSpec
    dist: D.DistInfo
    run_dir: Path
    tracker: object
    resumed: bool = False

    def main_first(self, prepare, load):
        """Rank 0 runs prepare() (e.g. tokenizing a corpus once, cached); the others wait, then load()."""
        if self.dist.is_main:
            data = prepare()
        D.barrier()
        return data if self.dist.is_main else load()


@dataclass
class Task:
    """What a gradient-trained family brings to the shared training wiring."""

    model: torch.nn.Module
    stream: object                 # next() / state_dict() / load_state_dict()
    evaluate_fn: object            # (model, final) -> metrics dict; final at max_steps
    sample_fn: object              # (model, step) -> None, writes samples/
    ckpt_extra: dict = field(default_factory=dict)   # extra checkpoint keys (tokenizer JSON, palette, ...)
    tokenizer: object = None       # the token vocabulary, for word2vec embedding initialisation
    files: dict = field(default_factory=dict)   # run-dir files to write once the run may go on: name -> text
    data_identity: dict | None = None   # what the prepared data was made from (seqgen.data.identity)


def run_task(ctx: RunContext, state: dict | None, task: Task) -> dict:
    """Optimizer, exact resume, checkpoints and the loop -> {run_dir, checkpoint, step, metrics, model}."""
    spec, dist, run_dir, tracker = ctx.spec, ctx.dist, ctx.run_dir, ctx.tracker
    model, stream = task.model, task.stream
    ckpt_dir = run_dir / "checkpoints"
    optimizer = build_optimizer(model, spec.optim, dist.device)
    torch.manual_seed(spec.seed + dist.rank)  # dropout noise differs per rank
    step = _resume(state, model, optimizer, stream, dist) if state is not None else 0
    train_seconds = float(state.get("train_seconds", 0.0)) if state is not None else 0.0
    if dist.is_main:
        print(f"[seqgen] {spec.model_name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
              f"device {dist.device}", flush=True)

    def save_fn(trainer: Trainer):
        rng = D.all_gather_object({"torch": torch.get_rng_state(), "data": stream.state_dict(),
                                   "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None})
        if dist.is_main:
            state = ckpt.pack(spec, model.config.__dict__, model.state_dict(), trainer.step, **task.ckpt_extra,
                              optimizer=optimizer.state_dict(), rng=rng, train_seconds=trainer.train_seconds,
                              tracker={"wandb_id": tracker.wandb_id}, metrics=trainer.last_eval,
                              best_loss=trainer.best_loss,
                              schedule_steps=spec.optim.decay_steps or spec.trainer.max_steps,
                              data_identity=json.dumps(task.data_identity) if task.data_identity else None)
            path = ckpt.save(state, ckpt.step_path(ckpt_dir, trainer.step))
            ckpt.link_last(path)
            ckpt.prune(ckpt_dir, spec.trainer.keep_last)
        D.barrier()

    def best_fn(trainer: Trainer):
        """best.pt: weights, config, tokenizer and the evaluation that made it best; no optimizer or RNG
        (it is for sample / evaluate / export, not for resuming: a run resumes from last.pt)."""
        state = ckpt.pack(spec, model.config.__dict__, model.state_dict(), trainer.step, **task.ckpt_extra,
                          train_seconds=trainer.train_seconds, metrics=trainer.last_eval,
                          best_loss=trainer.best_loss,
                          data_identity=json.dumps(task.data_identity) if task.data_identity else None)
        ckpt.save(state, ckpt_dir / "best.pt")

    best_loss = float(state.get("best_loss", math.inf)) if state is not None else math.inf
    trainer = Trainer(spec.trainer, spec.optim, model, optimizer, stream, dist, tracker,
                      evaluate_fn=task.evaluate_fn, sample_fn=task.sample_fn, save_fn=save_fn, step=step,
                      train_seconds=train_seconds, best_fn=best_fn if dist.is_main else None, best_loss=best_loss)
    metrics = trainer.fit()
    last = ckpt_dir / "last.pt"
    best = ckpt_dir / "best.pt"
    samples_dir = run_dir / "samples"
    if dist.is_main:
        print(f"[seqgen] checkpoint: {last}", flush=True)
        if spec.trainer.keep_best and best.is_file() and math.isfinite(trainer.best_loss):
            print(f"[seqgen] best:       {best} (lowest validation loss {trainer.best_loss:.4f})", flush=True)
        if samples_dir.is_dir():
            print(f"[seqgen] samples:    {samples_dir}", flush=True)
    return {"run_dir": run_dir, "checkpoint": last, "step": trainer.step, "metrics": metrics, "model": model}


def _resume(state: dict, model, optimizer, stream, dist) -> int:
    """Model, optimizer, step and each rank's RNG and data position from the checkpoint -> its step."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, rng = state["step"], state["rng"]
    except (KeyError, RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [repr(e)])[0][:200]
        raise CheckpointError(f"the checkpoint this run resumes from does not fit the model built now "
                              f"({type(e).__name__}: {first}); use another run_name for a different model "
                              f"or data") from None
    if len(rng) != dist.world_size:
        print(f"[seqgen] checkpoint has RNG state for {len(rng)} processes, running {dist.world_size}: "
              f"data order restarts from new seeds", flush=True)
    else:
        torch.set_rng_state(rng[dist.rank]["torch"])
        stream.load_state_dict(rng[dist.rank]["data"])
        if torch.cuda.is_available() and rng[dist.rank].get("cuda") is not None:
            torch.cuda.set_rng_state(rng[dist.rank]["cuda"])
    return step


def checkpoint_bytes(model: torch.nn.Module, optim_cfg, state: dict | None = None, extra: dict | None = None) -> int:
    """What the next checkpoint takes on disk, as ckpt.save will check it: a resumed run's checkpoint
    has the same tensors as the one it resumes from; a new one holds the weights (and buffers) plus the
    optimizer's per-parameter state - AdamW two moments, SGD with momentum one buffer, without none -
    and the extra keys (tokenizer, palette)."""
    if state is not None:
        need = ckpt.nbytes(state)
    else:
        params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        slots = 2 if optim_cfg.name == "adamw" else int(optim_cfg.momentum > 0)
        need = ckpt.nbytes(model.state_dict()) + slots * params + ckpt.nbytes(extra or {})
    return int(need * 1.1) + 2**16


def save_fitted(ctx: RunContext, model, model_state: dict, metrics: dict, tokenizer=None, **extra) -> dict:
    """The checkpoint of a fitted model (step 0): its tables or vectors, tokenizer and figures (extra
    `fit_progress`: a fit stopped part-way, which the family's fit continues from)."""
    run_dir = ctx.run_dir
    if tokenizer is not None:
        tokenizer.save(run_dir / "tokenizer.json")
        extra["tokenizer"] = tokenizer.to_json()
    state = ckpt.pack(ctx.spec, model.config.__dict__, model_state, 0, metrics=metrics, **extra)
    path = ckpt.save(state, ckpt.step_path(run_dir / "checkpoints", 0))
    ckpt.link_last(path)
    last = run_dir / "checkpoints" / "last.pt"
    print(f"[seqgen] checkpoint: {last}", flush=True)
    return {"run_dir": run_dir, "checkpoint": last, "step": 0, "metrics": metrics, "model": model}


@contextmanager
def stop_requests():
    """SIGTERM / Ctrl-C while a fitted family runs: the handler only records the signal; the family
    checks `stop.signum` at the end of each epoch or stage, saves, and raises `stopped(...)`."""
    stop = StopRequest().install()
    try:
        yield stop
    finally:
        stop.uninstall()


def stopped(signum: int, where: str, resume: str = "run the same command again to resume") -> Stopped:
    """The Stopped error of a fitted family (exit 128 + signum: 143 for SIGTERM, 130 for Ctrl-C)."""
    return Stopped(f"stopped by {signal.Signals(signum).name} {where}: a checkpoint is saved; {resume}", signum)
