"""train(cfg): the train verb. Resolves the family from model.name, validates the config against it,
and either fits the family (counted, own loop, non-parametric) or runs its task on the shared Trainer.
Owns the run directory's life cycle (seqgen.core.rundir) and the word2vec -> GPT embedding init."""

from __future__ import annotations

from pathlib import Path

import torch

from seqgen import families
from seqgen.core import distributed as D
from seqgen.core.config import RunSpec, parse, run_dir_for, to_plain
from seqgen.core.errors import ConfigError
from seqgen.core.rundir import check_refit, resume_state, write_config
from seqgen.core.tracking import NullTracker, Tracker
from seqgen.core.training import RunContext, run_task


def resolve(cfg):
    """The composed config -> (RunSpec, Family)."""
    plain = to_plain(cfg)
    name = (plain.get("model") or {}).get("name")
    if name is None:
        raise ConfigError("model.name is missing: pick a model group, e.g. model=gpt")
    fam = families.get(name)
    return parse(plain, fam), fam


def train(cfg) -> dict:
    """Train (or fit) the configured model -> {'run_dir', 'checkpoint', 'step', 'metrics', 'model'}."""
    spec, fam = resolve(cfg)
    dist = D.setup(spec.trainer.device)
    try:
        return _train(spec, fam, dist)
    finally:
        D.cleanup()


def _train(spec: RunSpec, fam, dist: D.DistInfo) -> dict:
    if spec.trainer.threads:
        torch.set_num_threads(spec.trainer.threads)
    run_dir = Path(D.broadcast_object(str(run_dir_for(spec).resolve())))
    ckpt_dir = run_dir / "checkpoints"
    if fam.fit is not None:
        if not dist.is_main:  # one process's job; other ranks have nothing to do
            return {"run_dir": run_dir, "checkpoint": None, "step": 0, "metrics": {}, "model": None}
        check_refit(spec, ckpt_dir)
        write_config(run_dir, spec.plain)
        tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name)
        try:
            return fam.fit(RunContext(spec, dist, run_dir, tracker))
        finally:
            tracker.finish()
    state = resume_state(spec, ckpt_dir)
    if dist.is_main:
        write_config(run_dir, spec.plain)
        print(f"[seqgen] run dir: {run_dir}", flush=True)
    wandb_id = state.get("tracker", {}).get("wandb_id") if state else None
    tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name, wandb_id) if dist.is_main else NullTracker()
    try:
        ctx = RunContext(spec, dist, run_dir, tracker, resumed=state is not None)
        task = fam.make_task(ctx)
        if spec.init_embeddings and state is None:
            from seqgen.app.init_embeddings import init_embeddings

            init_embeddings(task.model, task.tokenizer, spec.init_embeddings, dist.is_main)
        return run_task(ctx, state, task)
    finally:
        tracker.finish()
