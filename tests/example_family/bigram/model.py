"""makemore's bigram as a neural net: logits[next | current] is one learned (V, V) table."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bigram(nn.Module):
    @dataclass
    class Config:
        vocab_size: int = 0        # derived from the tokenizer
        block_size: int = 32       # how many (current, next) pairs one training row holds
        smoothing: float = 0.0     # L2 pull of the logits towards uniform (makemore's regularisation)

    def __init__(self, config: "Bigram.Config"):
        super().__init__()
        self.config = config
        self.table = nn.Embedding(config.vocab_size, config.vocab_size)   # (V, V) logits
        nn.init.zeros_(self.table.weight)                                  # uniform: loss starts at ln V

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, V) of the token after each position."""
        return self.table(idx)

    def training_loss(self, batch):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        return loss + self.config.smoothing * (self.table.weight ** 2).mean(), {}
