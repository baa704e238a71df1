"""The one-pass 4x upsampler (`model.arch=conv`): a dilated residual conv net over the whole 32x32
map predicts, for every high-res pixel, a distribution over the palette; all 16,384 pixels are drawn
at once (Parti's super-resolution stage is also non-autoregressive).

    lo (B, h, w) --embed--> (B, C, h, w) --n_layer x [conv3x3(d) GELU conv3x3(d)] + skip-->
       --1x1--> (B, f*f*K, h, w) --pixel shuffle--> logits (B, K, h*f, w*f)

Dilations cycle 1, 2, 4, so 6 blocks see 57 low-res pixels across: a whole shape, hence the exact
position of its edges inside each 4x4 block. The pixels are independent given the low-res image, so
p(hi | lo) = prod p(pixel | lo) is an exact likelihood (bits per high-res token are comparable with
the block model's), and decoding needs no sequential steps: sample, take each pixel's most likely
colour, or its minimum-expected-squared-error colour in RGB; then every block is made consistent
with its low-res pixel exactly (seqgen/families/upsampler/generate.py).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

DILATIONS = (1, 2, 4)


class ResBlock(nn.Module):
    def __init__(self, c: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = nn.GroupNorm(1, c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.conv2(self.drop(F.gelu(self.conv1(self.norm(x)))))


class ConvUpsampler(nn.Module):
    """Built by seqgen.families.upsampler.model.build_upsampler from an Upsampler.Config with arch=conv."""

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        K, C = c.n_colors, c.n_embd
        self.embed = nn.Embedding(K, C)
        self.blocks = nn.ModuleList(ResBlock(C, DILATIONS[i % len(DILATIONS)], c.dropout) for i in range(c.n_layer))
        self.norm = nn.GroupNorm(1, C)
        self.out = nn.Conv2d(C, c.factor * c.factor * K, 1)
        nn.init.zeros_(self.out.weight)   # at init the logits are the prior alone
        nn.init.zeros_(self.out.bias)
        # a learned pull towards each pixel's low-res colour (nearest-neighbour upsampling, right for
        # ~98% of pixels): training starts from the baseline instead of from uniform guesses
        self.prior = nn.Parameter(torch.tensor(2.0))

    @property
    def device(self) -> torch.device:
        return self.out.weight.device

    def flops_per_token(self) -> float:
        """Training FLOPs per high-res pixel: 6 x multiply-adds of the convs per low-res pixel / f^2."""
        c = self.config
        per_lo = len(self.blocks) * 2 * 9 * c.n_embd ** 2 + c.n_embd * c.factor ** 2 * c.n_colors
        return 6 * per_lo / c.factor ** 2

    def forward(self, lo: torch.Tensor) -> torch.Tensor:
        """lo (B, h, w) palette indices -> logits (B, K, h*f, w*f)."""
        f = self.config.factor
        x = rearrange(self.embed(lo), "b h w c -> b c h w")
        for block in self.blocks:
            x = block(x)
        y = self.out(F.gelu(self.norm(x)))                                   # (B, f*f*K, h, w)
        logits = rearrange(y, "b (fy fx k) h w -> b k (h fy) (w fx)", fy=f, fx=f)
        near = lo.repeat_interleave(f, 1).repeat_interleave(f, 2)           # (B, H, W) nearest-neighbour
        return logits + self.prior * F.one_hot(near, self.config.n_colors).permute(0, 3, 1, 2)

    def nll(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Exact code length of each high-res image in nats (B,)."""
        return F.cross_entropy(self(lo).float(), hi, reduction="none").flatten(1).sum(1)

    def training_loss(self, batch):
        """batch = (lo (B, h, w), hi (B, H, W)) -> (mean nats per high-res token, {})."""
        lo, hi = batch
        return F.cross_entropy(self(lo).float(), hi), {}
