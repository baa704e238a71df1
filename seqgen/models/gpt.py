"""Decoder-only transformer language model (nanoGPT-class) with a KV cache for sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen.models.layers import Block, Dropout, KVCache, rope_tables


class GPT(nn.Module):
    trainable = True

    @dataclass
    class Config:
        vocab_size: int = 0          # derived from the tokenizer at build time
        block_size: int = 256        # longest context the model sees
        n_layer: int = 6
        n_head: int = 6
        n_embd: int = 384
        dropout: float = 0.0
        bias: bool = False           # biases in Linear / LayerNorm (GPT-2 has them)
        rope: bool = False           # rotary positions instead of a learned position table
        rope_theta: float = 10000.0
        tie_weights: bool = True     # share the token embedding with the output head

    def __init__(self, config: "GPT.Config"):
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("GPT.Config.vocab_size must be set (it comes from the tokenizer)")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = None if c.rope else nn.Embedding(c.block_size, c.n_embd)
        self.drop = Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.n_embd, c.n_head, c.dropout, c.bias) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        if c.rope:
            cos, sin = rope_tables(c.n_embd // c.n_head, c.block_size, c.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2 scaled init of the residual projections: keeps the residual stream's variance flat
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), nanoGPT's/PaLM's formula 6N + 12·L·C·T."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * c.block_size

    def new_cache(self, batch_size: int) -> KVCache:
        c = self.config
        return KVCache(c.n_layer, batch_size, c.n_head, c.block_size, c.n_embd // c.n_head,
                       self.wte.weight.device)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """idx (B, T) token ids -> logits (B, T, V). With a cache, idx continues the cached prefix."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size={self.config.block_size}")
        x = self.wte(idx)  # (B, T, C)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe.weight[start:start + T]  # a slice, not an embedding lookup: fewer ops per step
        else:
            rope = (self.rope_cos[start:start + T], self.rope_sin[start:start + T])
        # blocks work on (B*T, C) rows: Linear on 2-D input is one addmm, which matters when sampling
        # one token at a time is dominated by per-op overhead
        x = self.drop(x).view(B * T, -1)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, cache, i, B)
        if cache is not None:
            cache.advance(T)
        return self.lm_head(self.ln_f(x)).view(B, T, -1)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """idx (B, T) -> per layer (B, n_head, T, T): who attends to whom (rows sum to 1)."""
        B, T = idx.shape
        x = self.wte(idx)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe.weight[:T]
        else:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        x, maps = x.view(B * T, -1), []
        for block in self.blocks:
            maps.append(block.attn.weights(block.ln1(x), rope, B))
            x = block(x, rope, None, 0, B)
        return maps

    def training_loss(self, batch):
        """batch = (x, y), both (B, T) -> (mean cross-entropy in nats, metrics dict)."""
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=-1)
        return loss, {}
