"""train(cfg): the train verb. Resolves the family from model.name, validates the config against it,
and either fits the family (counted, own loop, non-parametric) or runs its task on the shared Trainer.

The run folder is locked for the whole run (one process per folder), and nothing in it is written
until the run may go on: the checkpoint to resume holds the same model on the same data, the data's
content is unchanged, and the folder can take a checkpoint. Also the word2vec -> GPT embedding init.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqgen import families
from seqgen.app.init_embeddings import init_embeddings
from seqgen.core import checkpoint as ckpt
from seqgen.core import distributed as D
from seqgen.core.config import RunSpec, parse, run_dir_for
from seqgen.core.errors import ConfigError, SeqgenError
from seqgen.core.rundir import RunLock, check_refit, check_resumed_data, check_schedule, resume_state, write_config
from seqgen.core.schema import to_plain
from seqgen.core.tracking import NullTracker, Tracker
from seqgen.core.training import RunContext, checkpoint_bytes, run_task


def resolve(cfg):
    """The composed config -> (RunSpec, Family)."""
    plain = to_plain(cfg)
    name = (plain.get("model") or {}).get("name")
    if name is None:
        raise ConfigError("model.name is missing: pick a model group, e.g. model=gpt")
    fam = families.get(name)
    return parse(plain, fam), fam


# how gloo / nccl word a peer whose process is gone (killed, crashed) during a collective
_PEER_GONE = ("connection closed by peer", "connection reset by peer", "broken pipe", "connection refused",
              "socket closed", "remote process exited", "nccl communicator was aborted")


def train(cfg) -> dict:
    """Train (or fit) the configured model -> {'run_dir', 'checkpoint', 'step', 'metrics', 'model'}."""
    spec, fam = resolve(cfg)
    dist = D.setup(spec.trainer.device, spec.trainer.ddp_timeout)
    try:
        return _locked(spec, fam, dist)
    except RuntimeError as e:
        text = str(e).lower()
        if dist.is_distributed and ("timed out" in text or "Timeout" in type(e).__name__):
            raise SeqgenError(f"rank {dist.rank}: another process did not answer within trainer.ddp_timeout="
                              f"{spec.trainer.ddp_timeout:g} s (a frozen or dead rank); the last checkpoint is "
                              f"intact, rerun to resume") from None
        if dist.is_distributed and any(w in text for w in _PEER_GONE):   # gloo / nccl: a rank's process ended
            raise SeqgenError(f"rank {dist.rank}: another process of this job ended ({str(e).splitlines()[0][:120]}); "
                              f"the last checkpoint is intact, rerun to resume") from None
        raise
    finally:
        D.cleanup()


def _locked(spec: RunSpec, fam, dist: D.DistInfo) -> dict:
    if spec.trainer.threads:
        torch.set_num_threads(spec.trainer.threads)
    run_dir = Path(D.broadcast_object(str(run_dir_for(spec).resolve())))
    lock, refusal = None, None
    if dist.is_main:
        try:
            lock = RunLock(run_dir).acquire()
        except ConfigError as e:
            refusal = str(e)
    refusal = D.broadcast_object(refusal)   # every rank stops when the folder is taken
    if refusal:
        raise ConfigError(refusal)
    try:
        return _fit(spec, fam, dist, run_dir) if fam.fit is not None else _train(spec, fam, dist, run_dir)
    finally:
        if lock is not None:
            lock.release()


def _fit(spec: RunSpec, fam, dist: D.DistInfo, run_dir: Path) -> dict:
    if not dist.is_main:  # one process's job; other ranks have nothing to do
        return {"run_dir": run_dir, "checkpoint": None, "step": 0, "metrics": {}, "model": None}
    check_refit(spec, run_dir / "checkpoints", fam)
    ckpt.check_writable(run_dir / "checkpoints")
    write_config(run_dir, spec.plain)
    # a refit replaces the earlier fit's rows (all at step 0) instead of adding another set; a stopped
    # word2vec fit that resumes keeps its finished epochs' rows
    progress = _fit_progress(run_dir / "checkpoints")
    tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name, resume_step=progress if progress else -1)
    try:
        return fam.fit(RunContext(spec, dist, run_dir, tracker))
    finally:
        tracker.finish()


def _fit_progress(ckpt_dir: Path) -> int:
    """The last logged step of a fit stopped part-way (its checkpoint's fit_progress), else 0."""
    path = ckpt.latest(ckpt_dir)
    if path is None:
        return 0
    progress = ckpt.load(path).get("fit_progress") or {}
    return int(progress.get("step", 0))


def _train(spec: RunSpec, fam, dist: D.DistInfo, run_dir: Path) -> dict:
    ckpt_dir = run_dir / "checkpoints"
    state = resume_state(spec, ckpt_dir, fam)
    ctx = RunContext(spec, dist, run_dir, NullTracker(), resumed=state is not None)
    task = fam.make_task(ctx)   # prepares the data (under data_root) and builds the model; writes no run file
    if state is not None:
        check_resumed_data(state, task.data_identity, ckpt_dir)
        check_schedule(spec, state)
    if spec.init_embeddings and state is None:   # may refuse the vectors: before any run file is written

        init_embeddings(task.model, task.tokenizer, spec.init_embeddings, dist.is_main)
    if dist.is_main:
        # before any compute: room for one checkpoint as ckpt.save will measure it
        ckpt.check_writable(ckpt_dir, checkpoint_bytes(task.model, spec.optim, state, task.ckpt_extra))
        write_config(run_dir, spec.plain)
        for name, text in task.files.items():
            (run_dir / name).write_text(text, encoding="utf-8")
        print(f"[seqgen] run dir: {run_dir}", flush=True)
        wandb_id = state.get("tracker", {}).get("wandb_id") if state else None
        ctx.tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name, wandb_id,
                              resume_step=state["step"] if state else None)
    try:
        return run_task(ctx, state, task)
    finally:
        ctx.tracker.finish()
