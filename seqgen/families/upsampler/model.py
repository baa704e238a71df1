"""The 4x token upsampler: p(128x128 palette indices | 32x32 palette indices), drawn block by block.

A 128x128 image is 16,384 tokens, too many for one raster-order sequence on a CPU. Every low-res
pixel (i, j) owns the f x f block of high-res pixels it was reduced from, and the model draws each
block from local evidence only, so all blocks of one colour of a checkerboard are drawn in parallel:

    pass 0, blocks with (i + j) even:  context = the (2r+1)^2 low-res window around (i, j)
    pass 1, blocks with (i + j) odd:   + the already drawn high-res pixels bordering the block
                                         (row above, row below, column left, column right)

Each block is a short sequence: [window (W tokens) ; border (4f tokens) ; <start> ; f*f - 1 block
pixels] with the f*f pixels predicted left to right, top to bottom. The factorisation
p(pass-0 blocks | low) * p(pass-1 blocks | low, pass-0 blocks) is exact, so the teacher-forced loss
is the model's true bits per high-res token. Sampling takes 2 passes x f*f steps, whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.schema import key
from seqgen.families.upsampler.conv import ConvUpsampler
from seqgen.nn.decoder import Decoder
from seqgen.nn.layers import KVCache


class Upsampler(Decoder):

    @dataclass
    class Config:
        n_colors: int = 0          # derived: palette size K
        factor: int = 4            # derived: high-res side / low-res side
        # defaults: the current recipe's model (experiment=upsampler_shapes: conv, 6 blocks of 64 channels);
        # the block model was 3x128 (experiment=upsampler_shapes_blocks); keys a checkpoint predates take
        # that release's default in family.py's patch steps
        arch: str = key("conv", choices=("blocks", "conv"))   # blocks: the autoregressive block model (below);
        # conv: the one-pass conv net of conv.py (n_layer residual blocks of n_embd channels; context, n_head unused)
        context: int = key(2, ge=0)    # low-res window radius r: (2r+1)^2 context tokens
        n_layer: int = key(6, ge=1)
        n_head: int = key(4, ge=1)
        n_embd: int = key(64, ge=1)
        dropout: float = key(0.0, ge=0, lt=1)
        bias: bool = False

    def __init__(self, config: "Upsampler.Config"):
        super().__init__()
        c = self.config = config
        if c.n_colors <= 0 or c.factor < 2:
            raise ValueError("Upsampler.Config.n_colors and factor come from the dataset (factor >= 2)")
        K = c.n_colors
        self.OUTSIDE, self.UNKNOWN, self.START = K, K + 1, K + 2
        self.n_window = (2 * c.context + 1) ** 2
        self.n_border = 4 * c.factor
        self.n_block = c.factor * c.factor
        self.prefix = self.n_window + self.n_border
        self.tok = nn.Embedding(K + 3, c.n_embd)
        self.pos = nn.Embedding(self.prefix + self.n_block, c.n_embd)   # every slot has a fixed role
        self.build_trunk(c.n_layer, c.n_head, c.n_embd, c.dropout, c.bias)
        self.head = nn.Linear(c.n_embd, K, bias=False)
        self.init_weights()

    @property
    def seq_len(self) -> int:
        return self.prefix + self.n_block

    # ---- building block sequences from images ----------------------------------------------------
    def windows(self, lo: torch.Tensor) -> torch.Tensor:
        """lo (B, h, w) -> (B, h, w, W) low-res windows around every pixel, OUTSIDE beyond the edge."""
        r = self.config.context
        padded = F.pad(lo, (r, r, r, r), value=self.OUTSIDE)
        win = padded.unfold(1, 2 * r + 1, 1).unfold(2, 2 * r + 1, 1)       # (B, h, w, 2r+1, 2r+1)
        return win.reshape(*lo.shape, self.n_window)

    def borders(self, canvas: torch.Tensor) -> torch.Tensor:
        """canvas (B, H, W) high-res, UNKNOWN where not drawn -> (B, h, w, 4f) pixels bordering each
        block: the row above, the row below, the column left, the column right (OUTSIDE at edges)."""
        f = self.config.factor
        B, H, W = canvas.shape
        p = F.pad(canvas, (1, 1, 1, 1), value=self.OUTSIDE)                  # (B, H+2, W+2)
        h, w = H // f, W // f
        rows = torch.arange(h, device=canvas.device) * f
        cols = torch.arange(w, device=canvas.device) * f
        span = torch.arange(f, device=canvas.device)
        # in padded coordinates the block (i, j) covers rows f*i+1 .. f*i+f, columns f*j+1 .. f*j+f
        above = p[:, rows[:, None, None], (cols[None, :, None] + 1 + span)]            # (B, h, w, f)
        below = p[:, rows[:, None, None] + f + 1, (cols[None, :, None] + 1 + span)]
        left = p[:, (rows[:, None, None] + 1 + span), cols[None, :, None]]
        right = p[:, (rows[:, None, None] + 1 + span), cols[None, :, None] + f + 1]
        return torch.cat([above, below, left, right], dim=-1)

    def block_pixels(self, hi: torch.Tensor) -> torch.Tensor:
        """hi (B, H, W) -> (B, h, w, f*f) each block's pixels in raster order."""
        f = self.config.factor
        return rearrange(hi, "b (h fy) (w fx) -> b h w (fy fx)", fy=f, fx=f)

    def place_blocks(self, canvas: torch.Tensor, blocks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Write blocks (B, h, w, f*f) into canvas (B, H, W) where mask (h, w) or (B, h, w) is True."""
        f = self.config.factor
        cur = self.block_pixels(canvas)
        m = mask.expand(canvas.size(0), *mask.shape[-2:])[..., None]
        new = torch.where(m, blocks, cur)
        return rearrange(new, "b h w (fy fx) -> b (h fy) (w fx)", fy=f, fx=f)

    def parity(self, h: int, w: int, device=None) -> torch.Tensor:
        """(h, w) long: 0 for blocks drawn in the first pass ((i + j) even), 1 for the second."""
        i = torch.arange(h, device=device)[:, None]
        j = torch.arange(w, device=device)[None, :]
        return (i + j) % 2

    def training_inputs(self, lo: torch.Tensor, hi: torch.Tensor):
        """Full images -> per-block (prefix (B, h, w, W+4f), targets (B, h, w, f*f)), borders as each
        block sees them when sampled: first-pass blocks see UNKNOWN, second-pass ones the truth."""
        border = self.borders(hi)
        first = self.parity(lo.size(1), lo.size(2), lo.device) == 0
        border = torch.where(first[None, :, :, None], torch.full_like(border, self.UNKNOWN), border)
        return torch.cat([self.windows(lo), border], dim=-1), self.block_pixels(hi)

    # ---- the network ------------------------------------------------------------------------------
    def forward(self, prefix: torch.Tensor | None, pixels: torch.Tensor, cache: KVCache | None = None):
        """Fresh: prefix (N, W+4f) and pixels (N, T) drawn so far (T < f*f) -> logits (N, T+1, K) for
        block pixels 0..T. With a filled cache: prefix None, pixels (N, T) next -> logits (N, T, K)."""
        start = cache.length if cache is not None else 0
        if start == 0:
            N = prefix.size(0)
            start_tok = torch.full((N, 1), self.START, dtype=torch.long, device=prefix.device)
            x = torch.cat([prefix, start_tok, pixels], dim=1)
            n_out = pixels.size(1) + 1
        else:
            x, N, n_out = pixels, pixels.size(0), pixels.size(1)
        T = x.size(1)
        h = self.tok(x) + self.pos.weight[start:start + T]
        h = self.run_blocks(h, None, cache).view(N, T, -1)[:, T - n_out:]
        return self.head(self.ln_f(h))

    def training_loss(self, batch):
        """batch = (prefix (N, W+4f), block pixels (N, f*f)) -> (mean nats per high-res token, {})."""
        prefix, pixels = batch
        logits = self(prefix, pixels[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), pixels.reshape(-1)), {}


def build_upsampler(config: "Upsampler.Config"):
    """The upsampler a config asks for: the block model, or the one-pass conv net (conv.py)."""
    if config.arch == "conv":
        return ConvUpsampler(config)
    return Upsampler(config)
