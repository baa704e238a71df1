"""Visual prompting: one decoder over a sentence of pixel-token images, [A1 ; A1' ; A2 ; A2' ; B ; B'].

Each 16x16 palette image becomes (16/p)^2 patch tokens (p = `model.patch`: 2 gives 64 tokens of 2x2
pixels from a vocabulary fitted on training images, seqgen.data.images.patches; a patch outside it is
an <esc> token plus its p*p pixels, drawn by a pixel head, so every image has an exact likelihood).
The model is trained by next-token prediction over whole sentences and prompted at test time with
0, 1 or 2 example pairs and a query: the completion of the last image is the answer B'.

Two token orders of the same images, one network (`form`):

    sentence  <sep> A1 tokens <sep> A1' tokens ... <sep> B' tokens   (LVM's visual sentence)
    canvas    <canvas> then the 2x2 grid [A A' ; B B'] as one 32x32 image in raster order: each
              row of patches runs through A then A' (top half), B then B' (bottom half), so row r of
              B' is drawn having seen rows 0..r of B only (Bar et al.'s inpainting canvas, causal)

Every slot adds two factorised position embeddings, (image k, row, column) of the token it reads and
of the token it predicts ("double" positions, as in sigma-GPT): with them one network reads either
order, and each step knows where the next patch goes. Slot layout of a sentence of n images of L
tokens (the slot that reads the last token of an image predicts the next <sep>, which is known: no
loss), T = n (L + 1) - 1 slots:

    slot:     0       1      ...  L        L+1     L+2    ...
    reads:    <sep>   a_0    ...  a_{L-1}  <sep>   a'_0   ...
    predicts: a_0     a_1    ...  (<sep>)  a'_0    a'_1   ...

Every input patch also adds the bag of its pixels' (slot, colour) embeddings, so colours are
factorised in the input: a held-out colour pair is made of seen colours.

Two output heads (`head`): `vocab` predicts the next patch token (a softmax over the fitted
vocabulary + <esc>, whose pixels the pixel head draws), `pixels` predicts the next patch's p*p
colours as p*p independent softmaxes given the context (and reads patches by their pixels only, no
token embedding). The pixel head is factorised in the output as the bag is in the input: a patch
never seen in training (a held-out colour on a held-out background, a 4x4 patch beyond any
vocabulary) is as easy to write as a seen one, and the code length stays exact (a product of
conditionals). A 16x16 image is then 16 tokens of 4x4 pixels (patch=4), a sentence 101 slots
instead of 389 at patch=2: four times the sentences per hour.

`rope` adds 2-D rotary positions on top of the learned ones: a query turns by the (row, column) of
the token its slot predicts, a key by the (row, column) of the token its slot reads, so attention
scores see the offset between the two; "the same place in the query image" (recolour, segment,
colourise, fill, outline) and "3 pixels to the left" (shift) are one fixed pattern per head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from seqgen.core.errors import ConfigError
from seqgen.core.schema import key
from seqgen.nn.decoder import Decoder
from seqgen.nn.layers import KVCache, check_heads
from seqgen.nn.patches import PatchVocab, pixel_head, raw_embedding

FORMS = ("sentence", "canvas")
HEADS = ("vocab", "pixels")


@dataclass
class Plan:
    """The slots of one form over n images of L tokens (flat token index f = k * L + j)."""

    inp: torch.Tensor   # (T,) flat index of the token each slot reads; -1 <sep>, -2 <canvas>
    src: torch.Tensor   # (T,) position code of what it reads: k * (L + 1) + j, j = L the image's start
    dst: torch.Tensor   # (T,) position code of what it predicts
    tgt: torch.Tensor   # (T,) flat index of the token it predicts; -1: a <sep> comes next (no loss)


def canvas_images(n: int) -> list[int]:
    """The canvas holds the first example pair and the query pair of an n-image sentence."""
    return [0, 1, n - 2, n - 1]


def build_plan(form: str, n: int, L: int, w: int) -> Plan:
    """The slot layout of `form` for n images of L tokens in rows of w (module docstring)."""
    def code(k, j):
        return k * (L + 1) + j

    slots = []   # (inp, src, dst, tgt)
    if form == "sentence":
        for k in range(n):
            slots.append((-1, code(k, L), code(k, 0), k * L))
            for j in range(L - 1 if k == n - 1 else L):
                nxt = (code(k, j + 1), k * L + j + 1) if j < L - 1 else (code(k + 1, L), -1)
                slots.append((k * L + j, code(k, j), *nxt))
    elif form == "canvas":
        if n != 4:
            raise ConfigError(f"the canvas form holds one example pair and the query (4 images), got {n}")
        h = L // w
        order = [(2 * (R // h) + C // w, (R % h) * w + C % w) for R in range(2 * h) for C in range(2 * w)]
        k0, j0 = order[0]
        slots.append((-2, code(0, L), code(k0, j0), k0 * L + j0))
        for (k, j), (k2, j2) in zip(order[:-1], order[1:]):
            slots.append((k * L + j, code(k, j), code(k2, j2), k2 * L + j2))
    else:
        raise ConfigError(f"form={form!r}: expected one of {list(FORMS)}")
    inp, src, dst, tgt = (torch.tensor(v, dtype=torch.long) for v in zip(*slots))
    return Plan(inp, src, dst, tgt)


class VisualPrompt(Decoder, PatchVocab):

    @dataclass
    class Config:
        n_colors: int = 0            # derived: palette size K
        size: int = 16               # derived: image side in pixels
        n_images: int = 6            # derived: images in a training sentence, 2 * (shots + 1)
        n_tokens: int = 0            # derived: patch vocabulary size V
        n_layer: int = key(4, ge=1)
        n_head: int = key(4, ge=1)
        n_embd: int = key(128, ge=1)
        dropout: float = key(0.0, ge=0, lt=1)
        bias: bool = False
        # defaults: the current recipe's model (experiment=visual_prompt_shapes); keys a checkpoint predates
        # (head, rope) take that release's default in family.py's patch step
        patch: int = key(4, choices=(1, 2, 4))    # side of an image token in pixels (1: the plain palette)
        max_vocab: int = key(1024, ge=1)          # at most this many patch tokens (+ <esc>)
        loss: str = key("answers", choices=("all", "answers"))   # scored images: every one, or each pair's second
        canvas: float = key(0.2, ge=0, le=1)      # share of training prompts laid out as the 2x2 canvas
        head: str = key("pixels", choices=HEADS)   # vocab: a patch-token softmax | pixels: each pixel's colour
        rope: bool = True            # also 2-D rotary (row, column) positions in attention

        def __post_init__(self):     # rope splits each head's rotary pairs between rows and columns: 4 | hs
            check_heads(self.n_embd, self.n_head, 4 if self.rope else 0)

    def __init__(self, config: "VisualPrompt.Config"):
        super().__init__()
        c = self.config = config
        if c.n_colors <= 0 or c.n_tokens <= 0:
            raise ValueError("VisualPrompt.Config.n_colors and n_tokens must be set (they come from the data)")
        p = c.patch
        if c.size % p:
            raise ConfigError(f"model.patch={p} does not divide the {c.size}x{c.size} images")
        if c.canvas > 0 and c.n_images < 4:
            raise ConfigError(f"model.canvas={c.canvas}: the canvas needs one example pair (data.shots >= 1)")
        self.w = c.size // p
        L = self.L = self.w * self.w
        V = c.n_tokens
        # token ids: 0..V-1 patches, V <esc>, V+1 <sep>, V+2 <canvas>; the head predicts 0..V
        self.esc_id, self.sep_id, self.canvas_id = V, V + 1, V + 2
        self.tok_emb = nn.Embedding(V + 3, c.n_embd)
        self.raw_emb = raw_embedding(c.n_embd, p, c.n_colors)              # bag of (pixel slot, colour)
        # factorised positions, for what a slot reads (src) and what it predicts (dst); row w = an image's start
        self.src_img, self.dst_img = nn.Embedding(c.n_images, c.n_embd), nn.Embedding(c.n_images, c.n_embd)
        self.src_row, self.dst_row = nn.Embedding(self.w + 1, c.n_embd), nn.Embedding(self.w + 1, c.n_embd)
        self.src_col, self.dst_col = nn.Embedding(self.w, c.n_embd), nn.Embedding(self.w, c.n_embd)
        self.build_trunk(c.n_layer, c.n_head, c.n_embd, c.dropout, c.bias)
        self.head = nn.Linear(c.n_embd, V + 1, bias=False) if c.head == "vocab" else None   # patch tokens
        # an escaped patch's pixels (head=vocab) or every patch's (head=pixels)
        self.pixel_head = pixel_head(c.n_embd, p, c.n_colors)
        self.init_weights()
        self.register_patch_vocab(V, p, c.n_colors)
        j = torch.arange(L + 1).repeat(c.n_images)                               # code -> (k, row, col)
        self.register_buffer("code_img", torch.arange(c.n_images).repeat_interleave(L + 1), persistent=False)
        self.register_buffer("code_row", torch.where(j < L, j // self.w, self.w), persistent=False)
        self.register_buffer("code_col", torch.where(j < L, j % self.w, 0), persistent=False)
        if c.rope:   # angles (n codes, hs/2): the first half of the pairs turn with the row, the rest with the column
            quarter = c.n_embd // c.n_head // 4
            freq = 1.0 / 100.0 ** (torch.arange(quarter).float() / quarter)
            ang = torch.cat([self.code_row[:, None] * freq, self.code_col[:, None] * freq], 1)
            self.register_buffer("rope_cos", ang.cos(), persistent=False)
            self.register_buffer("rope_sin", ang.sin(), persistent=False)
        self._plans: dict = {}

    @property
    def seq_len(self) -> int:
        return self.config.n_images * (self.L + 1) - 1

    @property
    def num_pixels(self) -> int:
        return self.config.size ** 2

    def plan(self, form: str, n: int) -> Plan:
        if n > self.config.n_images:
            raise ConfigError(f"a prompt of {n} images: this model reads at most {self.config.n_images} "
                              f"({self.config.n_images // 2 - 1} example pairs and the query)")
        k = (form, n, str(self.device))
        if k not in self._plans:
            pl = build_plan(form, n, self.L, self.w)
            self._plans[k] = Plan(*(t.to(self.device) for t in (pl.inp, pl.src, pl.dst, pl.tgt)))
        return self._plans[k]

    # ---- pixels <-> tokens ---------------------------------------------------------------------------
    def encode(self, pixels: torch.Tensor):
        """pixels (B, n, S*S) raster images -> tokens (B, n*L) and raw (B, n*L, p*p), each patch's pixels."""
        p = self.config.patch
        raw = rearrange(pixels, "b n (h py w px) -> b (n h w) (py px)", py=p, px=p, w=self.w)
        return self.patch_tokens(raw, self.esc_id), raw

    def decode(self, tokens: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) of one image (+ raw (B, L, p*p) for escapes) -> pixels (B, S*S)."""
        patches = self.patch_pixels(tokens, raw, self.esc_id)
        p = self.config.patch
        return rearrange(patches, "b (h w) (py px) -> b (h py w px)", py=p, px=p, w=self.w)

    # ---- the network ---------------------------------------------------------------------------------
    def _pos(self, codes: torch.Tensor, img, row, col) -> torch.Tensor:
        return img(self.code_img[codes]) + row(self.code_row[codes]) + col(self.code_col[codes])

    def features(self, tok, raw, plan: Plan, start: int, end: int, cache: KVCache | None = None):
        """Final-norm hidden states (B, end-start, C) of slots start..end-1 of a plan, reading the flat
        tokens tok (B, n*L) and their pixels raw (B, n*L, p*p). With a cache, start is its length."""
        if cache is not None and cache.length != start:
            raise ValueError(f"the cache holds {cache.length} slots, asked to continue at {start}")
        inp = plan.inp[start:end]
        real = inp >= 0
        at = inp.clamp(min=0)
        special = torch.where(inp == -1, self.sep_id, self.canvas_id)
        # head=pixels reads a patch by its pixels only (one shared "patch" id, the <esc> row)
        ids = torch.where(real, tok[:, at] if self.config.head == "vocab" else self.esc_id, special)   # (B, T)
        bag = self.raw_bag(raw[:, at])                       # (B, T, C)
        x = (self.tok_emb(ids) + bag * real[:, None].to(bag.dtype)
             + self._pos(plan.src[start:end], self.src_img, self.src_row, self.src_col)
             + self._pos(plan.dst[start:end], self.dst_img, self.dst_row, self.dst_col))
        rope = None
        if self.config.rope:   # a query sits where its slot predicts, a key where its slot reads
            dst, src = plan.dst[start:end], plan.src[start:end]
            rope = (self.rope_cos[dst], self.rope_sin[dst], self.rope_cos[src], self.rope_sin[src])
        B, T, _ = x.shape
        return self.ln_f(self.run_blocks(x, rope, cache).view(B, T, -1))

    def nll(self, images: torch.Tensor, form: str = "sentence", scored=None) -> torch.Tensor:
        """Exact code length in nats (B,) of the scored images (indices into images (B, n, S*S);
        default every one) given the ones before them: their tokens plus the pixels of escapes."""
        B, n = images.shape[:2]
        tok, raw = self.encode(images)
        plan = self.plan(form, n)
        scored = torch.tensor(range(n) if scored is None else [s % n for s in scored], device=tok.device)
        keep = (plan.tgt >= 0) & torch.isin(plan.tgt.clamp(min=0) // self.L, scored)
        h = self.features(tok, raw, plan, 0, len(plan.inp))[:, keep]                  # (B, S, C)
        where = plan.tgt[keep]
        if self.config.head == "pixels":
            px = self.pixel_logits(h).float()                                          # (B, S, p*p, K)
            return F.cross_entropy(px.flatten(1, 2).transpose(1, 2), raw[:, where].flatten(1, 2),
                                   reduction="none").sum(1)
        target = tok[:, where]
        out = F.cross_entropy(self.head(h).float().transpose(1, 2), target, reduction="none").sum(1)
        esc = target == self.esc_id
        if esc.any():
            px = self.pixel_logits(h[esc]).float()                                     # (m, p*p, K)
            out = out.index_add(0, esc.nonzero()[:, 0],
                                F.cross_entropy(px.transpose(1, 2), raw[:, where][esc], reduction="none").sum(1))
        return out

    def scored_images(self, n: int) -> list[int]:
        return list(range(n)) if self.config.loss == "all" else list(range(1, n, 2))

    def training_loss(self, batch):
        """batch = (images (B, n, S*S), task ids (B,)) -> (mean nats per scored pixel, {}). A share
        `canvas` of the rows is read as the 2x2 canvas of its first example pair and its query."""
        images, _ = batch
        B, n = images.shape[:2]
        canvas = torch.zeros(B, dtype=torch.bool, device=images.device)
        if self.training and self.config.canvas > 0:
            canvas = torch.rand(B, device=images.device) < self.config.canvas
        total, count = images.new_zeros((), dtype=torch.float32), 0
        for form, rows in (("sentence", ~canvas), ("canvas", canvas)):
            if rows.any():
                x = images[rows] if form == "sentence" else images[rows][:, canvas_images(n)]
                scored = self.scored_images(x.size(1))
                total = total + self.nll(x, form, scored).sum()
                count += x.size(0) * len(scored) * self.num_pixels
        return total / count, {}
