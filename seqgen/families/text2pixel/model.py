"""Text to pixels: a decoder-only prefix LM over [caption tokens ; <img> ; image tokens].

One causal transformer (the shared decoder trunk) reads a fixed-length caption slot, then draws the
image in raster order, as Image GPT / DALL-E 1 / Parti do at scale. An image token is a p x p patch of
palette indices (`model.patch`): p = 1 is one pixel per step (1,024 steps for 32x32, the previous
release's model, whose checkpoints load unchanged); p = 2 draws 256 patch tokens from a vocabulary of
the patches seen in training (seqgen/data/images/patches.py), 4x fewer steps and 16x less attention.
A patch outside the vocabulary is an escape token followed by its p*p pixels, drawn from a pixel head
on the same hidden state, so every grid has an exact likelihood (reported per pixel).

Sequence layout (Lc = caption_len, L = (H/p)(W/p) tokens), the slot that *predicts* token j carrying
token j's (row, column) embedding, so each step knows where the next patch goes:

    slot:      0 .. Lc-1        Lc               Lc+1        ...  Lc+L-1
    token:     caption / <pad>  <img>            token 0     ...  token L-2
    position:  text pos 0..Lc-1 (row 0, col 0)   (0, 1)      ...  (H/p-1, W/p-1)
    predicts:  -                token 0          token 1     ...  token L-1

The loss is on image tokens only. Caption dropout replaces the whole caption by <pad> tokens (the
"null caption"), which trains the unconditional model that classifier-free guidance needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.schema import key
from seqgen.nn.decoder import Decoder
from seqgen.nn.layers import KVCache, check_heads
from seqgen.nn.patches import PatchVocab, pixel_head, raw_embedding


class Text2Pixel(Decoder, PatchVocab):

    @dataclass
    class Config:
        text_vocab_size: int = 0     # derived: caption tokenizer size (the <pad> id is text_vocab_size)
        n_colors: int = 0            # derived: palette size K
        caption_len: int = 0         # derived: caption slot length in tokens (padded with <pad>)
        height: int = 32             # derived: image size in pixels
        width: int = 32
        # defaults: the current recipe's model (experiment=text2pixel_shapes: 5x160, 2x2 patches); keys a
        # checkpoint predates take that release's default in family.py's patch steps, not these
        n_layer: int = key(5, ge=1)
        n_head: int = key(5, ge=1)
        n_embd: int = key(160, ge=1)
        dropout: float = key(0.0, ge=0, lt=1)
        bias: bool = False
        caption_dropout: float = key(0.1, ge=0, le=1)   # probability a training caption becomes the null one
        patch: int = key(2, choices=(1, 2, 4))    # side of an image token in pixels (1: one pixel per step)
        max_vocab: int = key(4096, ge=1)          # patch > 1: at most this many patch tokens (+ escape)
        n_tokens: int = 0            # derived: patch vocabulary size (patch 1: n_colors)

        def __post_init__(self):
            check_heads(self.n_embd, self.n_head)

    def __init__(self, config: "Text2Pixel.Config"):
        super().__init__()
        c = self.config = config
        for name in ("text_vocab_size", "n_colors", "caption_len", "height", "width"):
            if getattr(c, name) <= 0:
                raise ValueError(f"Text2Pixel.Config.{name} must be set (it comes from the dataset)")
        p = c.patch
        if c.height % p or c.width % p:
            raise ValueError(f"model.patch={p} does not divide the {c.height}x{c.width} image")
        if p == 1:
            c.n_tokens = c.n_colors
        elif c.n_tokens <= 0:
            raise ValueError("Text2Pixel.Config.n_tokens must be set for patch > 1 (the fitted patch vocabulary)")
        self.pad_id = c.text_vocab_size
        # token ids: 0..n_tokens-1 patches (patch 1: palette indices), then <esc> (patch > 1), then <img>
        self.esc_id = c.n_tokens if p > 1 else None
        self.start_id = c.n_tokens + (1 if p > 1 else 0)
        self.text_emb = nn.Embedding(c.text_vocab_size + 1, c.n_embd)   # + <pad>
        self.text_pos = nn.Embedding(c.caption_len, c.n_embd)
        self.pix_emb = nn.Embedding(self.start_id + 1, c.n_embd)        # tokens (+ <esc>) + <img>
        self.row_emb = nn.Embedding(c.height // p, c.n_embd)
        self.col_emb = nn.Embedding(c.width // p, c.n_embd)
        self.build_trunk(c.n_layer, c.n_head, c.n_embd, c.dropout, c.bias)
        self.head = nn.Linear(c.n_embd, self.start_id, bias=False)       # next token (or <esc>)
        if p > 1:
            # an escaped patch: its pixels are read in by a bag of (pixel slot, colour) embeddings and
            # drawn by a head of p*p independent colour distributions given the hidden state
            self.raw_emb = raw_embedding(c.n_embd, p, c.n_colors)
            self.pixel_head = pixel_head(c.n_embd, p, c.n_colors)
            self.register_patch_vocab(c.n_tokens, p, c.n_colors)
        self.init_weights()
        w = c.width // p
        rows = torch.arange(c.height // p).repeat_interleave(w)
        cols = torch.arange(w).repeat(c.height // p)
        self.register_buffer("pix_rows", rows, persistent=False)   # (L,) row of token j
        self.register_buffer("pix_cols", cols, persistent=False)   # (L,) column of token j

    @property
    def num_pixels(self) -> int:
        return self.config.height * self.config.width

    @property
    def num_tokens(self) -> int:
        """Image tokens per image: (H/p) * (W/p)."""
        return self.num_pixels // self.config.patch ** 2

    @property
    def seq_len(self) -> int:
        return self.config.caption_len + self.num_tokens

    # ---- pixels <-> tokens ---------------------------------------------------------------------------
    def encode(self, pixels: torch.Tensor):
        """pixels (B, H*W) raster -> tokens (B, L) and raw (B, L, p*p), each patch's own pixels (what an
        <esc> token stands for). patch 1: the pixels themselves, raw None."""
        p = self.config.patch
        if p == 1:
            return pixels, None
        raw = rearrange(pixels, "b (h py w px) -> b (h w) (py px)", py=p, px=p, w=self.config.width // p)
        return self.patch_tokens(raw, self.esc_id), raw

    def decode(self, tokens: torch.Tensor, raw: torch.Tensor | None) -> torch.Tensor:
        """Inverse of encode: tokens (B, L) (+ raw for escapes) -> pixels (B, H*W)."""
        p = self.config.patch
        if p == 1:
            return tokens
        patches = self.patch_pixels(tokens, raw, self.esc_id)                      # (B, L, p*p)
        return rearrange(patches, "b (h w) (py px) -> b (h py w px)", py=p, px=p, w=self.config.width // p)

    # ---- the network ---------------------------------------------------------------------------------
    def null_text(self, batch_size: int, device=None) -> torch.Tensor:
        """The unconditional caption: (B, Lc) of <pad>."""
        return torch.full((batch_size, self.config.caption_len), self.pad_id, dtype=torch.long,
                          device=device if device is not None else self.device)

    def _slots(self, tokens: torch.Tensor, raw: torch.Tensor | None, first: int) -> torch.Tensor:
        """tokens (B, T) fed at the slots predicting tokens first..first+T-1 -> embeddings (B, T, C);
        an <esc> input adds the bag of its raw pixels (B, T, p*p)."""
        T = tokens.size(1)
        if first + T > self.num_tokens:
            raise ValueError(f"{first + T} image slots exceed the image's {self.num_tokens} tokens")
        pos = self.row_emb.weight[self.pix_rows[first:first + T]] + self.col_emb.weight[self.pix_cols[first:first + T]]
        x = self.pix_emb(tokens) + pos
        if raw is not None and self.esc_id is not None:
            bag = self.raw_bag(raw)                         # (B, T, C)
            x = x + bag * (tokens == self.esc_id)[..., None]
        return x

    def features(self, text, tokens, raw=None, cache: KVCache | None = None) -> torch.Tensor:
        """Final-norm hidden states of the slots that predict image tokens.

        Fresh (no cache, or an empty one): text (B, Lc), tokens (B, T) (T < L) drawn so far -> (B, T+1, C)
        for tokens 0..T. Continuing a filled cache: text None, tokens (B, T) the next drawn ones ->
        (B, T, C) for the tokens after them. raw (B, T, p*p): the pixels of escaped input tokens."""
        c = self.config
        start = cache.length if cache is not None else 0
        if start == 0:
            if text is None or text.dim() != 2 or text.size(1) != c.caption_len:
                raise ValueError(f"text must be (B, {c.caption_len}) caption token ids; got "
                                 f"{None if text is None else tuple(text.shape)}")
            B = text.size(0)
            txt = self.text_emb(text) + self.text_pos.weight                          # (B, Lc, C)
            start_tok = torch.full((B, 1), self.start_id, dtype=torch.long, device=text.device)
            if raw is not None:
                raw = torch.cat([raw.new_zeros(B, 1, raw.size(-1)), raw], dim=1)
            img = self._slots(torch.cat([start_tok, tokens], dim=1), raw, 0)          # (B, T+1, C)
            x = torch.cat([txt, img], dim=1)
            n_out = img.size(1)
        else:
            B = tokens.size(0)
            # the cache holds Lc caption slots + `drawn` image slots; the new tokens are drawn-1..
            x = self._slots(tokens, raw, start - c.caption_len)
            n_out = tokens.size(1)
        T = x.size(1)
        x = self.run_blocks(x, None, cache).view(B, T, -1)[:, T - n_out:]
        return self.ln_f(x)

    def forward(self, text, tokens, cache: KVCache | None = None, raw=None) -> torch.Tensor:
        """Logits over the next image token (patch 1: the palette), shapes as in features()."""
        return self.head(self.features(text, tokens, raw, cache))

    def nll(self, text: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Exact code length of each image in nats (B,): its tokens, plus the pixels of escaped ones."""
        tokens, raw = self.encode(pixels)
        h = self.features(text, tokens[:, :-1], raw[:, :-1] if raw is not None else None)
        logits = self.head(h).float()
        out = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").sum(1)
        if raw is not None:
            esc = tokens == self.esc_id
            if esc.any():
                px = self.pixel_logits(h[esc]).float()                                # (n, p*p, K)
                out = out.index_add(0, esc.nonzero()[:, 0],
                                    F.cross_entropy(px.transpose(1, 2), raw[esc], reduction="none").sum(1))
        return out

    def training_loss(self, batch):
        """batch = (text (B, Lc), pixels (B, H*W)) -> (mean nats per pixel, {}): comparable across patch sizes."""
        text, pixels = batch
        if self.training and self.config.caption_dropout > 0:
            drop = torch.rand(text.size(0), 1, device=text.device) < self.config.caption_dropout
            text = torch.where(drop, torch.full_like(text, self.pad_id), text)
        if self.config.patch == 1:   # one token per pixel: the plain cross-entropy (the previous release's)
            logits = self(text, pixels[:, :-1])
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), pixels.reshape(-1)), {}
        return self.nll(text, pixels).sum() / pixels.numel(), {}
