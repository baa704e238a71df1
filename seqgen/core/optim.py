"""Optimizer construction and the learning-rate schedule. Never steps anything itself."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch

from seqgen.core.errors import ConfigError
from seqgen.core.schema import key


@dataclass
class OptimConfig:
    name: str = key("adamw", choices=("adamw", "sgd"))
    lr: float = key(1e-3, gt=0)
    min_lr: float = key(1e-4, ge=0)           # cosine decays to this
    weight_decay: float = key(0.1, ge=0)      # applied to >=2-D weights only (matmuls, embeddings)
    betas: list = field(default_factory=lambda: [0.9, 0.99])
    momentum: float = key(0.9, ge=0, lt=1)    # sgd
    warmup_steps: int = key(100, ge=0)
    decay_steps: int | None = key(None, ge=1)  # cosine length; null = trainer.max_steps
    schedule: str = key("cosine", choices=("cosine", "constant"))
    grad_clip: float = key(1.0, ge=0)         # 0 disables clipping
    fused: str | bool = key("auto", choices=("auto", "true", "false", True, False))  # fused AdamW (CUDA and CPU)

    def validate(self, prefix: str = "optim") -> None:
        """Checks across keys, after the per-key ranges (seqgen.core.schema.build calls it)."""
        if self.min_lr > self.lr:   # the cosine would climb from lr to min_lr
            raise ConfigError(f"{prefix}.min_lr={self.min_lr:g} is above {prefix}.lr={self.lr:g}: the schedule would "
                              f"raise the learning rate; expected min_lr <= lr (set {prefix}.min_lr too when you "
                              f"lower {prefix}.lr)")
        b = self.betas
        if len(b) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1 for x in b):
            raise ConfigError(f"{prefix}.betas={b!r}: expected two numbers in [0, 1), e.g. [0.9, 0.99]")


def param_groups(model: torch.nn.Module, weight_decay: float):
    """Decay >=2-D tensors; keep biases and norm gains undecayed (nanoGPT / GPT-3 practice)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, device: torch.device):
    groups = param_groups(model, cfg.weight_decay)
    if cfg.name == "adamw":
        kwargs = {}
        if "fused" in inspect.signature(torch.optim.AdamW).parameters:
            fused = cfg.fused if isinstance(cfg.fused, bool) else str(cfg.fused).lower()
            if fused in ("auto", True, "true"):
                kwargs["fused"] = device.type in ("cuda", "cpu")
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), **kwargs)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    raise ValueError(f"optim.name must be 'adamw' or 'sgd', got {cfg.name!r}")


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warmup for warmup_steps, then cosine from lr to min_lr over decay_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return cfg.lr
    decay_steps = cfg.decay_steps or max_steps
    if step >= decay_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / max(1, decay_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)
