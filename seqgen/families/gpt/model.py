"""Decoder-only transformer language model (nanoGPT-class) with a KV cache for sampling."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen.core.schema import key
from seqgen.nn.decoder import Decoder
from seqgen.nn.layers import KVCache, check_heads, rope_tables


class GPT(Decoder):

    @dataclass
    class Config:
        vocab_size: int = 0          # derived from the tokenizer at build time
        block_size: int = key(64, ge=1)    # longest context the model sees
        n_layer: int = key(4, ge=1)        # defaults: nanoGPT's CPU recipe (configs/model/gpt.yaml, tested equal)
        n_head: int = key(4, ge=1)
        n_embd: int = key(128, ge=1)
        dropout: float = key(0.0, ge=0, lt=1)
        bias: bool = False           # biases in Linear / LayerNorm (GPT-2 has them)
        rope: bool = True            # rotary positions (false: a learned position table, as nanoGPT)
        rope_theta: float = key(10000.0, gt=0)
        tie_weights: bool = True     # share the token embedding with the output head

        def __post_init__(self):     # at config time: a shape RoPE cannot take is a config error, not a traceback
            check_heads(self.n_embd, self.n_head, 2 if self.rope else 0)

    def __init__(self, config: "GPT.Config"):
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("GPT.Config.vocab_size must be set (it comes from the tokenizer)")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = None if c.rope else nn.Embedding(c.block_size, c.n_embd)
        self.build_trunk(c.n_layer, c.n_head, c.n_embd, c.dropout, c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        if c.rope:
            cos, sin = rope_tables(c.n_embd // c.n_head, c.block_size, c.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.init_weights()

    @property
    def seq_len(self) -> int:
        return self.config.block_size

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, without the learned position table by default (nanoGPT's convention for MFU)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

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
        return self.lm_head(self.ln_f(self.run_blocks(x, rope, cache))).view(B, T, -1)

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
