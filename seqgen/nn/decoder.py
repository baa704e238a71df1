"""The decoder trunk every decoder-only model shares: dropout on the input, pre-norm blocks, final norm.

GPT, Text2Pixel and the upsampler differ only in how tokens become embeddings (token / caption /
2-D / slot positions) and in their output head. Each subclasses `Decoder`, builds its embeddings,
calls `build_trunk`, adds its head and calls `init_weights`. The trunk's modules are attributes of
the model itself (`blocks`, `ln_f`, `drop`), not of a child module, so state_dict keys are the same
as before the trunk was shared and old checkpoints load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from seqgen.nn.layers import Block, Dropout, KVCache


class Decoder(nn.Module):
    """Base class: subclasses define `seq_len` (the longest sequence) and call build_trunk / init_weights."""

    def build_trunk(self, n_layer: int, n_head: int, n_embd: int, dropout: float, bias: bool):
        """Create drop, blocks and ln_f (in this order: module creation draws from the RNG)."""
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout, bias) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)

    def init_weights(self):
        """GPT-2's init: N(0, 0.02) for every Linear and Embedding, zero biases, and the residual
        projections scaled by 1/sqrt(2 * n_layer) so the residual stream's variance stays flat."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.n_layer))

    @property
    def seq_len(self) -> int:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return self.ln_f.weight.device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Training FLOPs per sequence position (forward + backward): 6N + 12·L·C·T (PaLM / nanoGPT)."""
        return 6 * self.num_params() + 12 * self.n_layer * self.n_embd * self.seq_len

    def new_cache(self, batch_size: int) -> KVCache:
        return KVCache(self.n_layer, batch_size, self.n_head, self.seq_len, self.n_embd // self.n_head,
                       self.device)

    def run_blocks(self, x: torch.Tensor, rope=None, cache: KVCache | None = None) -> torch.Tensor:
        """x (B, T, C) input embeddings -> (B*T, C) residual stream after the blocks, before ln_f.

        The blocks work on (B*T, C) rows: a Linear on 2-D input is one addmm, which matters when
        sampling one token at a time is dominated by per-op overhead. With a cache, the T new
        positions continue the cached prefix and the cache advances by T afterwards."""
        B, T, _ = x.shape
        h = self.drop(x).view(B * T, -1)
        for i, block in enumerate(self.blocks):
            h = block(h, rope, cache, i, B)
        if cache is not None:
            cache.advance(T)
        return h
