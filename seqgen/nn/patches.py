"""Palette-patch token lookup shared by the models whose tokens are p x p patches of palette indices
(text2pixel, visual_prompt): a fitted vocabulary of patches, kept as buffers, and the exact map from
a patch's pixels to its token id (or "not in the vocabulary": the model's escape); and the two ends
of a patch's raw pixels: read in as a bag of (pixel slot, colour) embeddings, drawn by the pixel head
(p*p independent colour distributions given the hidden state).

A mixin rather than a child module, so the buffers (`patch_vocab`, `patch_keys`, `patch_ids`) stay
top-level state_dict keys of the model. Each patch's key is its pixels read as base-K digits (fits
int64 for K^(p*p) < 2^63); the sorted keys are searched with torch.searchsorted.
"""

from __future__ import annotations

import torch
from torch import nn


def pixel_head(n_embd: int, p: int, n_colors: int) -> nn.Linear:
    """The pixel head: hidden state (..., C) -> the p*p pixels' colour logits, flat (..., p*p*K)."""
    return nn.Linear(n_embd, p * p * n_colors, bias=False)


def raw_embedding(n_embd: int, p: int, n_colors: int) -> nn.Embedding:
    """One embedding per (pixel slot, colour): a patch's pixels read in as the sum of p*p of them."""
    return nn.Embedding(p * p * n_colors, n_embd)


class PatchVocab:
    """Mixin of an nn.Module with `pixel_head` and `raw_emb` (built by the functions above, where the
    model wants them in its module order) after register_patch_vocab."""


    def register_patch_vocab(self, n_tokens: int, p: int, n_colors: int) -> None:
        if n_colors ** (p * p) >= 2 ** 63:
            raise ValueError(f"model.patch={p} with {n_colors} colours: a patch does not fit a 64-bit key")
        self.register_buffer("patch_vocab", torch.zeros(n_tokens, p * p, dtype=torch.long))   # (V, p*p)
        self.register_buffer("patch_keys", torch.zeros(n_tokens, dtype=torch.long))           # sorted keys
        self.register_buffer("patch_ids", torch.zeros(n_tokens, dtype=torch.long))            # id of each key
        self.register_buffer("key_base", n_colors ** torch.arange(p * p, dtype=torch.long), persistent=False)
        self.register_buffer("raw_offset", torch.arange(p * p) * n_colors, persistent=False)   # slot -> row
        self.pixel_shape = (p * p, n_colors)

    def set_vocab(self, vocab) -> None:
        """Install the fitted patch vocabulary (V, p*p) (seqgen.data.images.patches.fit_vocab)."""
        v = torch.as_tensor(vocab, dtype=torch.long, device=self.patch_vocab.device)
        if v.shape != self.patch_vocab.shape:
            raise ValueError(f"vocabulary of shape {tuple(v.shape)}, the model expects {tuple(self.patch_vocab.shape)}")
        keys = (v * self.key_base).sum(-1)
        order = keys.argsort()
        self.patch_vocab.copy_(v)
        self.patch_keys.copy_(keys[order])
        self.patch_ids.copy_(order)

    def patch_tokens(self, raw: torch.Tensor, escape: int) -> torch.Tensor:
        """raw (..., p*p) patch pixels -> (...) token ids, `escape` where the patch is not in the vocabulary."""
        k = (raw * self.key_base).sum(-1)
        at = torch.searchsorted(self.patch_keys, k).clamp(max=len(self.patch_keys) - 1)
        return torch.where(self.patch_keys[at] == k, self.patch_ids[at], torch.full_like(k, escape))

    def patch_pixels(self, tokens: torch.Tensor, raw: torch.Tensor, escape: int) -> torch.Tensor:
        """tokens (...) -> (..., p*p): the vocabulary's patch, or for `escape` the raw pixels given."""
        patches = self.patch_vocab[tokens.clamp(max=len(self.patch_vocab) - 1)]
        return torch.where((tokens == escape)[..., None], raw, patches)

    def raw_bag(self, raw: torch.Tensor) -> torch.Tensor:
        """raw (..., p*p) palette indices -> (..., C): the sum of their (slot, colour) embeddings."""
        return self.raw_emb(raw + self.raw_offset).sum(-2)

    def pixel_logits(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., C) -> (..., p*p, K): the colours of the next patch's pixels."""
        return self.pixel_head(h).unflatten(-1, self.pixel_shape)
