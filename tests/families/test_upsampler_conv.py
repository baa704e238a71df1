"""The one-pass conv upsampler, the exact consistency constraint of both architectures, and the
decoding rules (sample, greedy, minimum expected error)."""

import itertools

import numpy as np
import pytest
import torch

from seqgen.data.images.codec import reduce_blocks, upsample_nearest
from seqgen.families.upsampler.evaluate import roughness, upsample_metrics
from seqgen.families.upsampler.generate import block_mode, feasible_colours, make_consistent, upsample, upsample_tokens
from seqgen.families.upsampler.model import Upsampler, build_upsampler
from tests.conftest import overfit

K = 5


def conv(**kw):
    torch.manual_seed(0)
    cfg = dict(arch="conv", n_colors=K, factor=4, n_layer=2, n_embd=16)
    cfg.update(kw)
    return build_upsampler(Upsampler.Config(**cfg))


def pair(B=2, h=3, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    hi = torch.randint(0, K, (B, 4 * h, 4 * w), generator=g)
    lo = torch.from_numpy(reduce_blocks(hi.numpy().astype(np.uint8))).long()
    return lo, hi


def _completable(counts, target, remaining, c):
    """Brute force: can the block still end with mode == target after drawing c?"""
    counts = counts.copy()
    counts[c] += 1
    for rest in itertools.combinations_with_replacement(range(len(counts)), remaining):
        final = counts.copy()
        for r in rest:
            final[r] += 1
        if int(np.argmax(final)) == target:
            return True
    return False


def test_feasible_colours_match_a_brute_force_search():
    rng = np.random.default_rng(0)
    for _ in range(60):
        k, n_block = 3, 6
        drawn = rng.integers(0, n_block)
        counts = np.bincount(rng.integers(0, k, drawn), minlength=k)
        target = int(rng.integers(0, k))
        remaining = n_block - drawn - 1
        got = feasible_colours(torch.tensor(counts)[None], torch.tensor([target]), remaining)[0]
        want = [_completable(counts, target, remaining, c) for c in range(k)]
        assert got.tolist() == want, (counts, target, remaining)


def test_constrained_block_sampling_is_consistent_for_every_block():
    torch.manual_seed(0)
    m = Upsampler(Upsampler.Config(arch="blocks", n_colors=K, factor=4, context=1, n_layer=1, n_head=2,
                                   n_embd=16)).eval()
    lo, _ = pair(B=3)
    for t in (1.0, 3.0):   # an untrained model at a high temperature breaks the rule often unless masked
        hi = upsample_tokens(m, lo, t, None, torch.Generator().manual_seed(1), retries=0, constrained=True)
        assert np.array_equal(reduce_blocks(hi.numpy().astype(np.uint8)), lo.numpy())
    loose = upsample_tokens(m, lo, 3.0, None, torch.Generator().manual_seed(1), retries=0)
    assert not np.array_equal(reduce_blocks(loose.numpy().astype(np.uint8)), lo.numpy())


def test_repair_makes_every_block_consistent_changing_as_few_pixels_as_needed():
    lo, hi = pair(B=4)
    noise = torch.randint(0, K, hi.shape, generator=torch.Generator().manual_seed(3))
    probs = torch.rand(4, K, *hi.shape[1:], generator=torch.Generator().manual_seed(4)).softmax(1)
    fixed = make_consistent(noise, lo, probs, 4)
    assert np.array_equal(reduce_blocks(fixed.numpy().astype(np.uint8)), lo.numpy())
    ok = torch.from_numpy(reduce_blocks(noise.numpy().astype(np.uint8)) == lo.numpy())
    keep = ok.repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert torch.equal(fixed[keep], noise[keep])                # consistent blocks are left alone
    assert torch.equal(make_consistent(hi, lo, probs, 4), hi)   # the truth needs no repair


def test_conv_contracts_and_the_nearest_neighbour_start():
    m = conv().eval()
    lo, hi = pair()
    logits = m(lo)
    assert logits.shape == (2, K, 12, 16)
    assert torch.equal(logits.argmax(1), torch.from_numpy(upsample_nearest(lo.numpy(), 4)).long())
    assert torch.allclose(m.nll(lo, hi).sum() / hi.numel(), m.training_loss((lo, hi))[0], atol=1e-5)


def test_conv_overfits_one_batch_and_greedy_beats_nearest_on_its_training_data():
    m = conv(n_layer=3, n_embd=32)
    lo, hi = pair(B=2)
    assert overfit(m, (lo, hi), 200) < 0.1
    out = upsample(m.eval(), lo, "greedy")
    near = torch.from_numpy(upsample_nearest(lo.numpy(), 4))
    assert (out == hi).float().mean() >= (near == hi).float().mean()
    assert np.array_equal(reduce_blocks(out.numpy().astype(np.uint8)), lo.numpy())


@pytest.mark.parametrize("decode", ["sample", "greedy", "mee"])
def test_conv_decodes_are_seeded_and_consistent(decode):
    m = conv().eval()
    lo, _ = pair()
    palette = torch.tensor([[255, 255, 255], [0, 0, 0], [200, 0, 0], [0, 200, 0], [0, 0, 200]], dtype=torch.float32)

    def draw(seed):
        return upsample(m, lo, decode, 1.0, None, torch.Generator().manual_seed(seed), palette)

    a = draw(0)
    assert torch.equal(a, draw(0)) and a.shape == (2, 12, 16)
    assert np.array_equal(reduce_blocks(a.numpy().astype(np.uint8)), lo.numpy())


def test_mee_picks_the_colour_nearest_the_expected_rgb():
    m = conv(n_layer=1).eval()
    lo = torch.zeros(1, 1, 1, dtype=torch.long)
    with torch.no_grad():   # every pixel: half black (1), half white (0) -> grey is nearest the mean
        m.prior.zero_()
        m.out.bias.zero_()
        m.out.bias.view(16, K)[:, 0] = 5.0
        m.out.bias.view(16, K)[:, 1] = 5.0
    palette = torch.tensor([[255, 255, 255], [0, 0, 0], [128, 128, 128], [255, 0, 0], [0, 0, 255]], dtype=torch.float32)
    out = upsample(m, lo, "mee", palette=palette, constrained=False)
    assert (out == 2).all()


def test_roughness_and_ssim_in_the_metrics():
    smooth = np.zeros((1, 64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    smooth[0][(yy - 32) ** 2 + (xx - 32) ** 2 < 400] = 1
    ragged = smooth.copy()
    ragged[0][::2, ::2] = np.where(np.random.default_rng(0).random((32, 32)) < 0.3, 1, ragged[0][::2, ::2])
    assert roughness(ragged) > 1.5 * roughness(smooth)

    class Codec:
        background = 0

        @staticmethod
        def dequantize(x):
            return np.stack([np.asarray(x) * 200] * 3, -1).astype(np.uint8)

    lo = reduce_blocks(smooth, 4)
    m = upsample_metrics(smooth, smooth, lo, Codec, 4)
    assert m["token_accuracy"] == 1 and m["ssim"] == pytest.approx(1) and m["roughness_ratio"] == pytest.approx(1)
    assert block_mode(torch.tensor([[1, 1, 2, 2]]), 3).item() == 1
