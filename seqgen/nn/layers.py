"""Shared transformer layers: causal self-attention (SDPA), MLP, pre-norm block, RoPE, KV cache.

Knows nothing about vocabularies or data. Shapes use B (batch), T (time), C (channels),
nh (heads), hs (head size).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.errors import ConfigError


def dropout(x: torch.Tensor, p: float, training: bool, rescale: bool = True) -> torch.Tensor:
    """Inverted dropout. On CPU the mask comes from 16-bit slices of 64-bit random words: one
    generator draw per 4 elements instead of one per element makes it ~3x faster than F.dropout,
    whose per-element Bernoulli draws were a quarter of a baby-GPT training step. The keep
    probability is quantised to 1/65536 (p=0.2 -> 0.19999695). The global generator is used, so
    checkpointed RNG state still makes resume exact. CUDA uses F.dropout (Philox, already fast).
    rescale=False leaves the 1/(1-p) factor to the caller (attention applies it to the smaller output).
    """
    if not training or p == 0.0:
        return x
    if x.is_cuda or p >= 1.0:
        return F.dropout(x, p, True) * (1.0 if rescale else 1.0 - p)
    n = x.numel()
    words = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    keep = words.view(torch.int16)[:n].view(x.shape) >= round(p * 65536) - 32768
    x = x * keep  # a bool multiply is ~2.5x faster than masked_fill on CPU
    return x * (1.0 / (1.0 - p)) if rescale else x


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)


class KVCache:
    """Pre-allocated keys and values for every layer, filled left to right.

    k[l], v[l]: (B, nh, max_len, hs). `length` is how many positions are filled; all rows of the
    batch share it (sampling pads nothing: every row grows by one token per step).
    """

    def __init__(self, n_layer, batch_size, n_head, max_len, head_size, device):
        self.shape = (batch_size, n_head, max_len, head_size)
        self.device = device
        # allocated on first write, in the dtype the layer computes in (bf16 under autocast)
        self.k: list = [None] * n_layer
        self.v: list = [None] * n_layer
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (B, nh, T, hs) at positions [length, length+T); return the filled prefix."""
        start, T = self.length, k.size(2)
        if start + T > self.max_len:
            raise ValueError(f"KV cache overflow: {start}+{T} > {self.max_len}")
        if self.k[layer] is None or self.k[layer].dtype != k.dtype:
            self.k[layer] = torch.zeros(self.shape, device=self.device, dtype=k.dtype)
            self.v[layer] = torch.zeros(self.shape, device=self.device, dtype=v.dtype)
        self.k[layer][:, :, start:start + T] = k
        self.v[layer][:, :, start:start + T] = v
        return self.k[layer][:, :, :start + T], self.v[layer][:, :, :start + T]

    def advance(self, T: int):
        """Called once per forward, after every layer wrote its T new positions."""
        self.length += T

    def reset(self):
        self.length = 0

    def select(self, rows: torch.Tensor):
        """Keep (and repeat) batch rows: rows (B',) long indexes the current batch. Used when
        sequences that share a prefix split or merge (beam-search style cache reordering)."""
        self.shape = (rows.numel(),) + self.shape[1:]
        for i, (k, v) in enumerate(zip(self.k, self.v)):
            if k is not None:
                self.k[i], self.v[i] = k.index_select(0, rows), v.index_select(0, rows)


def check_heads(n_embd: int, n_head: int, rope_multiple: int = 0, prefix: str = "model"):
    """Validate an attention shape when the config is built (before any data or run folder): the width
    splits into n_head heads, and with rotary positions each head's size is a multiple of
    rope_multiple (2: RoPE turns pairs of channels; 4: visual_prompt's 2-D rows and columns)."""
    if n_embd % n_head:
        raise ConfigError(f"{prefix}.n_embd={n_embd} must be divisible by {prefix}.n_head={n_head}")
    hs = n_embd // n_head
    if rope_multiple and hs % rope_multiple:
        ok = [h for h in range(1, n_embd + 1) if n_embd % h == 0 and (n_embd // h) % rope_multiple == 0]
        near = min(ok, key=lambda h: (abs(h - n_head), h)) if ok else None
        raise ConfigError(f"{prefix}.n_embd={n_embd} / {prefix}.n_head={n_head} gives {hs}-dim heads; rotary "
                          f"positions need a head size that is a multiple of {rope_multiple}"
                          + (f" (e.g. {prefix}.n_head={near})" if near else "") + f", or {prefix}.rope=false")


def rope_tables(head_size: int, max_len: int, theta: float = 10000.0, device=None):
    """cos, sin tables (max_len, hs/2) for rotary position embeddings."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_size, 2, device=device).float() / head_size)
    t = torch.arange(max_len, device=device).float()
    freqs = torch.outer(t, inv_freq)
    return freqs.cos(), freqs.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (even, odd halves) of x (B, nh, T, hs) by position; cos/sin: (T, hs/2)."""
    x1, x2 = (x if x.dtype == torch.float32 else x.float()).chunk(2, dim=-1)
    cos, sin = cos[None, None], sin[None, None]
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.type_as(x)


def rotate(q: torch.Tensor, k: torch.Tensor, rope: tuple):
    """Rotary positions on queries and keys (B, nh, T, hs). rope = (cos, sin), one table for both, or
    (cos_q, sin_q, cos_k, sin_k): a query placed where its slot predicts and a key where its slot
    reads (visual_prompt's 2-D rows and columns), each (T, hs/2)."""
    cq, sq, ck, sk = rope if len(rope) == 4 else (*rope, *rope)
    return apply_rope(q, cq, sq), apply_rope(k, ck, sk)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        self.n_head, self.n_embd = n_head, n_embd
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = dropout
        self.resid_drop = Dropout(dropout)

    def weights(self, x, rope=None, B: int = 1) -> torch.Tensor:
        """x: (B*T, C) -> (B, nh, T, T) causal attention probabilities (for plots; no cache)."""
        T, hs = x.size(0) // B, x.size(1) // self.n_head
        q, k, _ = rearrange(self.qkv(x), "(b t) (three nh hs) -> three b nh t hs", b=B, three=3, nh=self.n_head)
        if rope is not None:
            q, k = rotate(q, k, rope)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return att.masked_fill(~causal, float("-inf")).softmax(dim=-1)

    def forward(self, x, rope=None, cache: KVCache | None = None, layer: int = 0, B: int = 1):
        """x: (B*T, C) rows of B sequences -> (B*T, C)."""
        BT, C = x.shape
        T, hs = BT // B, C // self.n_head
        # (B*T, 3C) -> 3 x (B, nh, T, hs)
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, hs).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = rotate(q, k, rope)
        mask, is_causal = None, True
        if cache is not None:
            past = cache.length
            k, v = cache.update(layer, k, v)  # (B, nh, past+T, hs)
            if past > 0:
                # query i sits at absolute position past+i and may see keys 0..past+i
                is_causal = False
                if T > 1:
                    qpos = torch.arange(past, past + T, device=x.device)[:, None]
                    mask = torch.arange(past + T, device=x.device)[None, :] <= qpos
        drop = self.dropout if self.training else 0.0
        if drop > 0 and not x.is_cuda:
            # CPU SDPA with dropout falls back to its math path anyway; spelling it out lets the
            # attention dropout use the fast mask above. (B, nh, T, T) scores, causal.
            att = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # scale the smaller tensor
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = dropout(att.masked_fill(~causal, float("-inf")).softmax(dim=-1), drop, True, rescale=False)
            y = (att @ v) * (1.0 / (1.0 - drop))  # dropout's rescale, on (B, nh, T, hs) not (B, nh, T, T)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop,
                                               is_causal=is_causal and T > 1)
        y = y.transpose(1, 2).reshape(BT, C)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd: int, dropout: float, bias: bool, mult: int = 4):
        super().__init__()
        self.fc = nn.Linear(n_embd, mult * n_embd, bias=bias)
        self.proj = nn.Linear(mult * n_embd, n_embd, bias=bias)
        self.drop = Dropout(dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x), approximate="none")))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x, rope=None, cache=None, layer: int = 0, B: int = 1):
        """x: (B*T, C) -> (B*T, C)."""
        x = x + self.attn(self.ln1(x), rope, cache, layer, B)
        return x + self.mlp(self.ln2(x))
