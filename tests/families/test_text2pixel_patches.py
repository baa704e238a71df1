"""Patch tokens for text2pixel: exact round trip, exact likelihood with escapes, causality, KV cache,
guidance, seeded sampling and overfitting with model.patch > 1."""

import math

import numpy as np
import pytest
import torch

from seqgen.data.images.patches import coverage, fit_vocab, from_patches, to_patches
from seqgen.families.text2pixel.generate import generate_pixels
from seqgen.families.text2pixel.model import Text2Pixel
from tests.conftest import overfit

K, H = 5, 8


def grids(n=40, seed=0):
    """Blocky grids (most 2x2 patches flat, as in real palette images) plus a little noise."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.repeat(rng.integers(0, K, (n, H // 4, H // 4)), 4, 1), 4, 2)
    noise = rng.random(g.shape) < 0.05
    return np.where(noise, rng.integers(0, K, g.shape), g).astype(np.uint8)


def tiny(p=2, vocab_from=None, max_vocab=12, **kw):
    train = grids() if vocab_from is None else vocab_from
    vocab = fit_vocab(train, p, max_vocab)
    cfg = dict(text_vocab_size=20, n_colors=K, caption_len=4, height=H, width=H, n_layer=2, n_head=2, n_embd=32,
               caption_dropout=0.0, patch=p, max_vocab=max_vocab, n_tokens=len(vocab))
    cfg.update(kw)
    torch.manual_seed(0)
    m = Text2Pixel(Text2Pixel.Config(**cfg))
    m.set_vocab(vocab)
    return m


def batch(B=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, 20, (B, 4), generator=g)
    pixels = torch.from_numpy(grids(B, seed).reshape(B, -1)).long()
    return text, pixels


@pytest.mark.parametrize("p", [2, 4])
def test_patch_round_trip_is_exact_for_training_and_random_grids(p):
    train = grids(200)
    m = tiny(p, train, max_vocab=8)
    for g in (train, np.random.default_rng(3).integers(0, K, (50, H, H)).astype(np.uint8)):
        pixels = torch.from_numpy(g.reshape(len(g), -1)).long()
        tokens, raw = m.encode(pixels)
        assert tokens.shape == (len(g), (H // p) ** 2) and torch.equal(m.decode(tokens, raw), pixels)
    tokens, _ = m.encode(torch.from_numpy(train.reshape(200, -1)).long())
    assert (tokens == m.esc_id).any() and (tokens < m.esc_id).any()      # both paths are exercised
    assert np.array_equal(from_patches(to_patches(train, p), H, H), train)
    assert 0 < coverage(train, fit_vocab(train, p, 8)) < 1


def test_nll_is_token_code_plus_escaped_pixels():
    m = tiny().eval()
    text, pixels = batch()
    tokens, raw = m.encode(pixels)
    h = m.features(text, tokens[:, :-1], raw[:, :-1])
    tok_lp = torch.log_softmax(m.head(h), -1).gather(-1, tokens[..., None])[..., 0]
    px_lp = torch.log_softmax(m.pixel_logits(h), -1).gather(-1, raw[..., None])[..., 0].sum(-1)
    want = -(tok_lp + px_lp * (tokens == m.esc_id)).sum(1)
    assert torch.allclose(m.nll(text, pixels), want, atol=1e-4)
    loss, _ = m.training_loss((text, pixels))
    assert torch.isclose(loss, want.sum() / pixels.numel(), atol=1e-5)
    # untrained: about ln(V + 1) per token plus, for escapes, ln K per pixel
    per_token = want.sum().item() / tokens.numel()
    assert per_token < math.log(m.config.n_tokens + 1) + 4 * math.log(K)


def test_causal_in_tokens_and_escaped_pixels():
    m = tiny().eval()
    text, pixels = batch()
    tokens, raw = m.encode(pixels)
    base = m(text, tokens[:, :-1], raw=raw[:, :-1])
    changed_raw = raw.clone()
    changed_raw[:, 7] = (changed_raw[:, 7] + 1) % K
    changed = tokens.clone()
    changed[:, 7] = m.esc_id                          # token 7 becomes an escape with other pixels
    out = m(text, changed[:, :-1], raw=changed_raw[:, :-1])
    assert torch.allclose(out[:, :8], base[:, :8], atol=1e-6)   # the logits for tokens 0..7 do not see it
    assert not torch.allclose(out[:, 8:], base[:, 8:])


def test_kv_cache_matches_full_forward_with_escapes():
    m = tiny().eval()
    text, pixels = batch()
    tokens, raw = m.encode(pixels)
    full = m(text, tokens[:, :-1], raw=raw[:, :-1])
    cache = m.new_cache(3)
    first = m(text, tokens[:, :5], cache=cache, raw=raw[:, :5])
    steps = [m(None, tokens[:, j:j + 1], cache=cache, raw=raw[:, j:j + 1]) for j in range(5, 15)]
    assert torch.allclose(torch.cat([first] + steps, dim=1), full, atol=1e-5)


def test_sampling_seeded_guidance_one_and_cache():
    m = tiny(max_vocab=3).eval()          # a small vocabulary: many escapes get drawn
    text, _ = batch()

    def draw(**kw):
        return generate_pixels(m, text, generator=torch.Generator().manual_seed(7), **kw)

    plain = draw()
    assert plain.shape == (3, H * H) and int(plain.max()) < K
    assert torch.equal(draw(), plain)
    assert torch.equal(draw(guidance=1.0), plain)
    assert torch.equal(draw(use_cache=False), plain)
    assert torch.equal(draw(guidance=3.0), draw(guidance=3.0, use_cache=False))
    tokens, _ = m.encode(plain)
    assert (tokens == m.esc_id).any()


def test_overfit_one_batch_with_patches():
    m = tiny(n_embd=64)
    assert overfit(m, batch(B=2), 150) < 0.02


def test_the_vocabulary_travels_in_the_state_dict():
    m = tiny()
    other = Text2Pixel(Text2Pixel.Config(**m.config.__dict__))
    other.load_state_dict(m.state_dict())
    text, pixels = batch()
    assert torch.equal(other.encode(pixels)[0], m.encode(pixels)[0])
