"""The training loop shared by every gradient-trained model.

Talks to protocols only: a model with `training_loss(batch) -> (loss, metrics)`, a batch stream with
`next()` / `state_dict()`, and callbacks for evaluation, sampling and checkpointing. No Hydra, no
wandb import, no model-name branches.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from seqgen.core import distributed as D
from seqgen.core.errors import Diverged, Stopped
from seqgen.core.optim import OptimConfig, lr_at
from seqgen.core.precision import autocast, resolve_precision
from seqgen.core.schema import key


@dataclass
class TrainerConfig:
    max_steps: int = key(3000, ge=1)       # defaults: configs/trainer/default.yaml (tested equal)
    batch_size: int = key(12, ge=1)        # sequences per micro-batch, per process
    grad_accum: int = key(1, ge=1)         # micro-batches per optimizer step
    eval_every: int = key(500, ge=0)       # 0: only at the end
    eval_batches: int | None = key(50, ge=1)   # batches per evaluation, spread evenly over the split (null: all)
    log_every: int = key(50, ge=1)
    ckpt_every: int = key(500, ge=0)       # 0: only at the end
    keep_last: int = key(2, ge=1)          # step_*.pt files kept besides last.pt
    keep_best: bool = True                 # best.pt: the weights of the evaluation with the lowest validation loss
    sample_every: int = key(0, ge=0)       # 0: only at the end
    sample_tokens: int = key(300, ge=0)
    sample_prompt: str = "\n"
    precision: str = key("auto", choices=("auto", "fp32", "bf16", "bf16!", "fp16"))  # auto: bf16 on CUDA, fp32 on CPU
    compile: bool = False                  # torch.compile the training step
    device: str = "auto"                   # auto | cpu | cuda | cuda:N
    resume: str = "auto"                   # auto (continue from this run's last checkpoint) | never | PATH
    threads: int | None = key(None, ge=1)  # torch CPU threads (null: torch's default)
    progress: bool = True                  # tqdm bar when stdout is a terminal
    peak_flops: float | None = key(None, gt=0)  # for MFU; null: measured once with a matmul at start
    ddp_timeout: float = key(300.0, gt=0)  # seconds a rank waits for the others before the job fails


class StopRequest:
    """SIGTERM and Ctrl-C (SIGINT) ask the loop to save a checkpoint at the next step boundary and stop;
    a second Ctrl-C interrupts at once. Handlers exist only in the main thread, while fit() runs."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def install(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        print(f"[seqgen] {signal.Signals(signum).name} received: saving a checkpoint at the end of this step "
              f"(Ctrl-C again to stop at once)", flush=True)

    def agreed(self) -> int:
        """The signal any rank received (all ranks agree on one step to stop at), or 0."""
        return D.all_reduce_max(self.signum)

    def uninstall(self):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()


class LossModule(nn.Module):
    """Routes training_loss through forward() so DDP and torch.compile see the real computation."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.training_loss(batch)


def ceiling_size(device: torch.device) -> int:
    """The matmul side that reaches a device's ceiling: 2048 on a CPU; 8192 on a GPU, where 2048 leaves
    most of the chip idle (an H200 in bf16: 358 TFLOP/s at 2048, 774 at 8192; 1.4 ms a product)."""
    return 8192 if torch.device(device).type == "cuda" else 2048


def measure_matmul_flops(device: torch.device, dtype=torch.float32, n: int | None = None, reps: int = 7) -> float:
    """The device's matmul ceiling in FLOP/s for dtype: an n x n matmul (ceiling_size by default), the
    FASTEST of reps. A ceiling is the best the device reached: on a shared machine a median (or one run)
    lands on a slowed repetition, and MFU against it exceeded 1 (1.01 on the emoji run)."""
    n = n or ceiling_size(device)
    # its own generator: drawing from the global RNG here, after a resume restored it, made dropout
    # noise differ from an uninterrupted run
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    for _ in range(2):  # warm up kernels and caches
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


# the validation loss best.pt follows: the first of these an evaluation reports (gpt: val/, images: valid/)
BEST_KEYS = ("val/loss", "valid/loss")


def best_key(metrics: dict) -> str | None:
    """The key of metrics that best.pt follows, or None when the evaluation reports no validation loss."""
    return next((k for k in BEST_KEYS if k in metrics), None)


class Trainer:
    def __init__(self, cfg: TrainerConfig, optim_cfg: OptimConfig, model, optimizer, stream, dist: D.DistInfo,
                 tracker, evaluate_fn=None, sample_fn=None, save_fn=None, step: int = 0,
                 train_seconds: float = 0.0, best_fn=None, best_loss: float = math.inf):
        self.cfg, self.optim_cfg = cfg, optim_cfg
        self.model, self.optimizer, self.stream = model, optimizer, stream
        self.dist, self.tracker = dist, tracker
        self.evaluate_fn, self.sample_fn, self.save_fn = evaluate_fn, sample_fn, save_fn
        # best_fn(trainer) writes best.pt (main process only) after an evaluation lowers best_loss, which
        # a resumed run takes from its checkpoint: nanoGPT keeps only improving checkpoints, and a long
        # run that overfits (the baby GPT: 1.47 at step 1500, 1.76 at 5000) keeps its best weights
        self.best_fn, self.best_loss, self._improved = best_fn, best_loss, False
        self.step = step
        self._seconds_before, self._fit_start = train_seconds, None   # wall time of earlier sessions
        self.dtype = resolve_precision(cfg.precision, dist.device)
        runner = LossModule(model)
        if dist.is_distributed:
            runner = DDP(runner, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
        if cfg.compile:
            runner = torch.compile(runner)
        self.runner = runner
        self.last_eval: dict = {}

    @property
    def train_seconds(self) -> float:
        """Wall seconds spent in fit() over every session of this run (resumes add up)."""
        running = time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0
        return self._seconds_before + running

    def _batch(self):
        x, y = self.stream.next()
        dev = self.dist.device
        return x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

    def train_step(self) -> dict:
        cfg = self.cfg
        lr = lr_at(self.step, self.optim_cfg, cfg.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = 0.0
        for micro_step in range(cfg.grad_accum):
            last = micro_step == cfg.grad_accum - 1
            sync = nullcontext() if last or not self.dist.is_distributed else self.runner.no_sync()
            with sync:
                with autocast(self.dist.device, self.dtype):
                    loss, _ = self.runner(self._batch())
                (loss / cfg.grad_accum).backward()
            total += loss.detach()
        grad_norm = None
        if self.optim_cfg.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.optim_cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return {"loss": total / cfg.grad_accum, "lr": lr, "grad_norm": grad_norm}

    def _progress(self):
        if not (self.dist.is_main and self.cfg.progress):
            return None

        return tqdm(total=self.cfg.max_steps, initial=self.step, disable=None, dynamic_ncols=True,
                    desc="train")

    def fit(self) -> dict:
        cfg, is_main = self.cfg, self.dist.is_main
        B, T = cfg.batch_size, getattr(self.stream, "block_size", 0)
        # streams whose batch is not batch_size sequences of block_size (the upsampler's blocks) say so
        tokens_per_batch = getattr(self.stream, "tokens_per_batch", B * T)
        tokens_per_step = tokens_per_batch * cfg.grad_accum * self.dist.world_size
        flops_per_token = getattr(self.model, "flops_per_token", lambda: 0.0)()
        peak = cfg.peak_flops
        if peak is None and is_main and flops_per_token:
            dtype = self.dtype if self.dtype != torch.float16 else torch.float32
            peak = measure_matmul_flops(self.dist.device, dtype)
            n = ceiling_size(self.dist.device)
            print(f"[seqgen] MFU is against this device's measured matmul ceiling: {peak / 1e9:,.1f} GFLOP/s "
                  f"({str(dtype).replace('torch.', '')}, {n}x{n}, fastest of 7; trainer.peak_flops= to fix it)",
                  flush=True)
        bar = self._progress()
        self._fit_start = time.perf_counter()
        self.model.train()
        t0, steps_since, start_step = time.perf_counter(), 0, self.step
        loss_sum = torch.zeros((), device=self.dist.device)  # summed on device: no sync per step
        stop = StopRequest().install()
        try:
            self._loop(cfg, bar, stop, peak, flops_per_token, tokens_per_step, t0, steps_since, loss_sum)
        finally:
            stop.uninstall()
            if bar is not None:
                bar.close()
        if self.step == start_step and self.evaluate_fn:  # resumed a finished run: report its numbers
            self._evaluate(None, final=True)
        return self.last_eval

    def _loop(self, cfg, bar, stop, peak, flops_per_token, tokens_per_step, t0, steps_since, loss_sum):
        is_main = self.dist.is_main
        while self.step < cfg.max_steps:
            out = self.train_step()
            steps_since += 1
            loss_sum += out["loss"]
            if bar is not None and bar.disable is False:
                bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                # mean over the steps since the last log line (and over ranks), not one noisy batch
                loss = D.all_reduce_mean(loss_sum / steps_since).item()
                loss_sum.zero_()
                if not math.isfinite(loss):
                    raise Diverged(f"the training loss became {loss} at step {self.step}; lower optim.lr (now "
                                   f"{self.optim_cfg.lr:g}) or check the data; the last checkpoint is intact")
                dt = (time.perf_counter() - t0) / steps_since
                metrics = {"train/loss": loss, "lr": out["lr"], "ms_per_step": 1000 * dt,
                           "tokens_per_s": tokens_per_step / dt}
                if out["grad_norm"] is not None:
                    metrics["grad_norm"] = float(out["grad_norm"])
                if peak and flops_per_token:
                    metrics["mfu"] = flops_per_token * tokens_per_step / self.dist.world_size / dt / peak
                if is_main:
                    self.tracker.log(metrics, self.step)
                    if bar is not None and not bar.disable:
                        bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{metrics['tokens_per_s']:,.0f}")
                    self._print(bar, f"step {self.step}/{cfg.max_steps} loss {loss:.4f} lr {out['lr']:.2e} "
                                     f"{metrics['ms_per_step']:.1f} ms/step "
                                     f"{metrics['tokens_per_s']:,.0f} tok/s"
                                + (f" mfu {metrics['mfu']:.2f}" if "mfu" in metrics else ""))
                t0, steps_since = time.perf_counter(), 0
            done = self.step == cfg.max_steps
            if self.evaluate_fn and ((cfg.eval_every and self.step % cfg.eval_every == 0) or done):
                self._evaluate(bar, final=done)
                if self._improved and self.best_fn and cfg.keep_best:
                    self.best_fn(self)
                self._improved = False
            if self.sample_fn and is_main and ((cfg.sample_every and self.step % cfg.sample_every == 0) or done):
                self.sample_fn(self.model, self.step)
            saved = False
            if self.save_fn and ((cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or done):
                self.save_fn(self)
                saved = True
                t0, steps_since = time.perf_counter(), 0  # keep checkpoint time out of tokens/s
                loss_sum.zero_()
            signum = stop.agreed()   # every rank stops at the same step boundary
            if signum and not done:
                if self.save_fn and not saved:
                    self.save_fn(self)
                name = signal.Signals(signum).name
                raise Stopped(f"stopped by {name} at step {self.step}/{cfg.max_steps}: a checkpoint of this step "
                              f"is saved; run the same command again to resume", signum)

    def _evaluate(self, bar, final: bool = False):
        """evaluate_fn(model, final): final is True at max_steps (for costly end-of-run metrics)."""
        if self.dist.is_main:
            self.model.eval()
            with torch.no_grad(), autocast(self.dist.device, self.dtype):
                self.last_eval = self.evaluate_fn(self.model, final)
            self.model.train()
            k = best_key(self.last_eval)
            loss = float(self.last_eval[k]) if k else math.nan
            if math.isfinite(loss) and loss < self.best_loss:
                self.best_loss, self._improved = loss, True
            self.tracker.log(self.last_eval, self.step)
            self._print(bar, f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in self.last_eval.items()))
        D.barrier()

    @staticmethod
    def _print(bar, msg):
        if bar is not None and not bar.disable:
            bar.write(msg)
        else:
            print(msg, flush=True)
