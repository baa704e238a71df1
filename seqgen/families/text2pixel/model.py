"""Text to pixels: a decoder-only prefix LM over [caption tokens ; <img> ; H*W palette indices].

One causal transformer (the GPT blocks) reads a fixed-length caption slot, then draws the image in
raster order, one palette index per step, as Image GPT / DALL-E 1 / Parti do at scale.

Sequence layout (Lc = caption_len, P = height * width), with the slot that *predicts* pixel j carrying
pixel j's (row, column) embedding, so each step knows where the next colour goes:

    slot:      0 .. Lc-1        Lc               Lc+1        ...  Lc+P-1
    token:     caption / <pad>  <img>            pixel 0     ...  pixel P-2
    position:  text pos 0..Lc-1 (row 0, col 0)   (0, 1)      ...  (H-1, W-1)
    predicts:  -                pixel 0          pixel 1     ...  pixel P-1

The loss is on pixel tokens only. Caption dropout replaces the whole caption by <pad> tokens (the
"null caption"), which trains the unconditional model that classifier-free guidance needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen.core.schema import key
from seqgen.nn.decoder import Decoder
from seqgen.nn.layers import KVCache


class Text2Pixel(Decoder):

    @dataclass
    class Config:
        text_vocab_size: int = 0     # derived: caption tokenizer size (the <pad> id is text_vocab_size)
        n_colors: int = 0            # derived: palette size K
        caption_len: int = 0         # derived: caption slot length in tokens (padded with <pad>)
        height: int = 32             # derived: image size in tokens
        width: int = 32
        n_layer: int = key(4, ge=1)
        n_head: int = key(4, ge=1)
        n_embd: int = key(128, ge=1)
        dropout: float = key(0.0, ge=0, lt=1)
        bias: bool = False
        caption_dropout: float = key(0.1, ge=0, le=1)   # probability a training caption becomes the null one

    def __init__(self, config: "Text2Pixel.Config"):
        super().__init__()
        c = self.config = config
        for name in ("text_vocab_size", "n_colors", "caption_len", "height", "width"):
            if getattr(c, name) <= 0:
                raise ValueError(f"Text2Pixel.Config.{name} must be set (it comes from the dataset)")
        self.pad_id = c.text_vocab_size
        self.start_id = c.n_colors
        self.text_emb = nn.Embedding(c.text_vocab_size + 1, c.n_embd)   # + <pad>
        self.text_pos = nn.Embedding(c.caption_len, c.n_embd)
        self.pix_emb = nn.Embedding(c.n_colors + 1, c.n_embd)           # + <img>
        self.row_emb = nn.Embedding(c.height, c.n_embd)
        self.col_emb = nn.Embedding(c.width, c.n_embd)
        self.build_trunk(c.n_layer, c.n_head, c.n_embd, c.dropout, c.bias)
        self.head = nn.Linear(c.n_embd, c.n_colors, bias=False)
        self.init_weights()
        rows = torch.arange(c.height).repeat_interleave(c.width)
        cols = torch.arange(c.width).repeat(c.height)
        self.register_buffer("pix_rows", rows, persistent=False)   # (P,) row of pixel j
        self.register_buffer("pix_cols", cols, persistent=False)   # (P,) column of pixel j

    @property
    def num_pixels(self) -> int:
        return self.config.height * self.config.width

    @property
    def seq_len(self) -> int:
        return self.config.caption_len + self.num_pixels

    def null_text(self, batch_size: int, device=None) -> torch.Tensor:
        """The unconditional caption: (B, Lc) of <pad>."""
        return torch.full((batch_size, self.config.caption_len), self.pad_id, dtype=torch.long,
                          device=device if device is not None else self.device)

    def _pixel_slots(self, tokens: torch.Tensor, first: int) -> torch.Tensor:
        """tokens (B, T) fed at the slots predicting pixels first..first+T-1 -> embeddings (B, T, C)."""
        T = tokens.size(1)
        if first + T > self.num_pixels:
            raise ValueError(f"{first + T} pixel slots exceed the image's {self.num_pixels} pixels")
        pos = self.row_emb.weight[self.pix_rows[first:first + T]] + self.col_emb.weight[self.pix_cols[first:first + T]]
        return self.pix_emb(tokens) + pos

    def forward(self, text: torch.Tensor | None, pixels: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits over the palette.

        Fresh (no cache, or an empty one): text (B, Lc), pixels (B, T) with T < P the pixels drawn so
        far -> logits (B, T+1, K) for pixels 0..T. Continuing a filled cache: text is None, pixels
        (B, T) are the next drawn pixels -> logits (B, T, K) for the pixels after them.
        """
        c = self.config
        start = cache.length if cache is not None else 0
        if start == 0:
            if text is None or text.dim() != 2 or text.size(1) != c.caption_len:
                raise ValueError(f"text must be (B, {c.caption_len}) caption token ids; got "
                                 f"{None if text is None else tuple(text.shape)}")
            B = text.size(0)
            txt = self.text_emb(text) + self.text_pos.weight                          # (B, Lc, C)
            start_tok = torch.full((B, 1), self.start_id, dtype=torch.long, device=text.device)
            pix = self._pixel_slots(torch.cat([start_tok, pixels], dim=1), 0)          # (B, T+1, C)
            x = torch.cat([txt, pix], dim=1)
            n_out = pix.size(1)
        else:
            B = pixels.size(0)
            # cache holds Lc caption slots + `drawn` pixel slots; the new tokens are pixels drawn-1..
            x = self._pixel_slots(pixels, start - c.caption_len)
            n_out = pixels.size(1)
        T = x.size(1)
        x = self.run_blocks(x, None, cache).view(B, T, -1)[:, T - n_out:]
        return self.head(self.ln_f(x))

    def training_loss(self, batch):
        """batch = (text (B, Lc), pixels (B, P)) -> (mean cross-entropy in nats per pixel, {})."""
        text, pixels = batch
        if self.training and self.config.caption_dropout > 0:
            drop = torch.rand(text.size(0), 1, device=text.device) < self.config.caption_dropout
            text = torch.where(drop, torch.full_like(text, self.pad_id), text)
        logits = self(text, pixels[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), pixels.reshape(-1))
        return loss, {}
