"""The 4x block upsampler: block geometry, contracts, KV cache, overfitting, sampling, the pipeline."""

import math

import numpy as np
import pytest
import torch

from seqgen.data.images.codec import PixelCodec, reduce_blocks, upsample_nearest
from seqgen.families.upsampler.evaluate import upsample_bicubic_baseline, upsample_metrics
from seqgen.families.upsampler.generate import _draw_blocks, block_mode, upsample_tokens
from seqgen.families.upsampler.model import Upsampler
from tests.conftest import run_script


def tiny(K=5, **kw):
    torch.manual_seed(0)
    cfg = dict(arch="blocks", n_colors=K, factor=4, context=1, n_layer=2, n_head=2, n_embd=32)
    cfg.update(kw)
    return Upsampler(Upsampler.Config(**cfg))


def pair(B=2, h=3, w=4, K=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    hi = torch.randint(0, K, (B, 4 * h, 4 * w), generator=g)
    lo = torch.from_numpy(reduce_blocks(hi.numpy().astype(np.uint8))).long()
    return lo, hi


def test_block_geometry():
    m = tiny()
    lo, hi = pair()
    blocks = m.block_pixels(hi)                                   # (B, h, w, 16)
    assert torch.equal(blocks[1, 2, 3], hi[1, 8:12, 12:16].reshape(-1))
    b = m.borders(hi)
    out = m.OUTSIDE
    assert b[0, 0, 1].tolist() == [out] * 4 + hi[0, 4, 4:8].tolist() + hi[0, 0:4, 3].tolist() + hi[0, 0:4, 8].tolist()
    assert b[0, 2, 3].tolist()[4:8] == [out] * 4 and b[0, 2, 3].tolist()[12:] == [out] * 4
    win = m.windows(lo)
    assert win.shape == (2, 3, 4, 9) and win[0, 0, 0, 0] == out
    assert win[0, 1, 1].tolist() == lo[0, 0:3, 0:3].reshape(-1).tolist()
    canvas = torch.full_like(hi, m.UNKNOWN)
    assert torch.equal(m.place_blocks(canvas, blocks, torch.ones(3, 4, dtype=torch.bool)), hi)
    # first-pass blocks ((i + j) even) see no high-res border; second-pass blocks see the truth
    prefix, targets = m.training_inputs(lo, hi)
    assert (prefix[0, 0, 0, 9:] == m.UNKNOWN).all() and torch.equal(prefix[0, 0, 1, 9:], b[0, 0, 1])
    assert torch.equal(targets, blocks)


def test_contracts_initial_loss_and_cache():
    m = tiny().eval()
    lo, hi = pair()
    prefix, targets = m.training_inputs(lo, hi)
    prefix, targets = prefix.reshape(-1, prefix.size(-1)), targets.reshape(-1, 16)
    logits = m(prefix, targets[:, :-1])
    assert logits.shape == (24, 16, 5)
    loss, _ = m.training_loss((prefix, targets))
    assert abs(loss.item() - math.log(5)) < 0.1
    cache = m.new_cache(24)
    stepped = [m(prefix, targets[:, :3], cache=cache)]
    stepped += [m(None, targets[:, j:j + 1], cache=cache) for j in range(3, 15)]
    assert torch.allclose(torch.cat(stepped, dim=1), logits, atol=1e-5)
    # causal: changing block pixel 5 leaves the logits for pixels 0..5 alone
    changed = targets.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 5
    assert torch.allclose(m(prefix, changed[:, :-1])[:, :6], logits[:, :6], atol=1e-6)


def test_overfit_one_batch():
    m = tiny(n_embd=64)
    lo, hi = pair(B=1)
    prefix, targets = m.training_inputs(lo, hi)
    batch = (prefix.reshape(-1, prefix.size(-1)), targets.reshape(-1, 16))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    for _ in range(200):
        loss, _ = m.training_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_sampling_is_seeded_and_consistent():
    m = tiny().eval()
    lo, _ = pair()

    def draw(seed, retries=3):
        return upsample_tokens(m, lo, generator=torch.Generator().manual_seed(seed), retries=retries)

    a = draw(0)
    assert a.shape == (2, 12, 16) and int(a.max()) < 5
    assert torch.equal(a, draw(0)) and not torch.equal(a, draw(1))
    # redrawing inconsistent blocks can only help; with many retries even an untrained model gets there
    def consistency(hi):
        return (torch.from_numpy(reduce_blocks(hi.numpy().astype(np.uint8))).long() == lo).float().mean()

    assert consistency(draw(0, retries=200)) == 1.0
    assert consistency(draw(0, retries=0)) <= consistency(draw(0, retries=200))


def test_shared_state_decoding_is_exact():
    """Blocks sharing a context share the network's work but still sample independently."""
    m = tiny().eval()
    lo, hi = pair()
    prefix = m.training_inputs(lo, hi)[0]
    prefix = prefix.reshape(-1, prefix.size(-1)).repeat(3, 1)           # every context three times
    greedy = _draw_blocks(m, prefix, 0.0, None, None, chunk=7)
    drawn = prefix.new_empty(len(prefix), 0)
    with torch.no_grad():
        for _ in range(16):                                             # reference: full forward, no cache
            drawn = torch.cat([drawn, m(prefix, drawn)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy, drawn)
    one = prefix[:1].expand(4000, -1)
    draws = _draw_blocks(m, one, 1.0, None, torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = m(prefix[:1], prefix.new_empty(1, 0))[0, -1].softmax(-1)
    freq = torch.bincount(draws[:, 0], minlength=5).float() / len(draws)
    assert (freq - p).abs().max() < 0.03
    assert len(torch.unique(draws, dim=0)) > 100


def test_block_mode_is_the_4x_rule():
    blocks = torch.randint(0, 6, (500, 16))
    hi = blocks.view(500, 1, 1, 4, 4).permute(0, 1, 3, 2, 4).reshape(500, 4, 4)   # each block an image
    want = torch.from_numpy(reduce_blocks(hi.numpy().astype(np.uint8))).long().view(-1)
    assert torch.equal(block_mode(blocks, 6), want)


def test_baselines_and_metrics():
    from seqgen.data.images import shapes as S

    d = S.generate(6, seed=0, held_out=False)
    codec = S.codec()
    near = upsample_nearest(d["lo"])
    bic = upsample_bicubic_baseline(d["lo"], codec)
    assert near.shape == bic.shape == (6, 128, 128)
    m_truth = upsample_metrics(d["hi"], d["hi"], d["lo"], codec)
    assert m_truth["consistency"] == 1.0 and m_truth["token_accuracy"] == 1.0 and m_truth["psnr"] == float("inf")
    m_near = upsample_metrics(near, d["hi"], d["lo"], codec)
    assert m_near["consistency"] == 1.0 and 0.9 < m_near["token_accuracy"] < 1.0 and m_near["psnr"] > 10


def test_dataset_pairs_are_consistent_by_construction(tmp_path):
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    data = prepare_images(ImageDataConfig(name="shapes", n_train=20, n_valid=4, n_test=4), tmp_path, verbose=False)
    for split in ("train", "valid", "test"):
        assert (reduce_blocks(np.array(data.hi(split))) == data.lo(split)).all()


def test_pipeline_and_upsample_file(tmp_path):
    """caption -> 32x32 -> 128x128 writes both PNGs; a low-res PNG is upsampled; bad inputs are clear."""
    from PIL import Image

    common = ["trainer=smoke", "trainer.max_steps=4", "trainer.eval_every=4", "trainer.ckpt_every=4",
              "trainer.sample_every=4", "trainer.batch_size=2", "data.n_train=20", "data.n_valid=4",
              "data.n_test=4", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
              f"out_root={tmp_path}", f"data_root={tmp_path / 'data'}"]
    run_script(["scripts/train.py", "experiment=text2pixel_shapes", "run_name=t2p", "text2pixel.eval_images=4",
                "text2pixel.fidelity_images=0", "text2pixel.sample_images=2", *common])
    run_script(["scripts/train.py", "experiment=upsampler_shapes", "run_name=up", "upsampler.eval_images=2",
                "upsampler.blocks_per_image=8", "upsampler.sample_images=2", *common])
    t2p, up = tmp_path / "t2p/checkpoints/last.pt", tmp_path / "up/checkpoints/last.pt"
    assert (tmp_path / "up/samples/step_0000004.png").is_file()
    out = tmp_path / "pipe.png"
    run_script(["scripts/sample.py", f"ckpt={t2p}", f"upsampler_ckpt={up}", "num_samples=2", f"out={out}",
                "prompt=a small red circle on the left on a white background"])
    for i in range(2):
        with Image.open(tmp_path / f"pipe_{i}_32.png") as a, Image.open(tmp_path / f"pipe_{i}_128.png") as b:
            assert a.size == (32, 32) and b.size == (128, 128)
    assert out.is_file()
    # upsample an existing 32x32 PNG with colours off the palette: quantized, with a warning
    rgb = np.full((32, 32, 3), 250, np.uint8)
    rgb[8:20, 8:20] = (215, 40, 35)                      # near the shapes' red, not equal to it
    Image.fromarray(rgb).save(tmp_path / "low.png")
    res = run_script(["scripts/sample.py", f"ckpt={up}", f"image={tmp_path / 'low.png'}", f"out={tmp_path / 'hi.png'}"])
    # one clean line, said once (it was also a raw UserWarning naming a source file, on stderr)
    assert res.stdout.count("are not palette colours") == 1 and "UserWarning" not in res.stderr, res.stderr
    with Image.open(tmp_path / "hi.png") as im:
        assert im.size == (128, 128)
    Image.fromarray(np.zeros((30, 32, 3), np.uint8)).save(tmp_path / "wrong.png")
    bad = run_script(["scripts/sample.py", f"ckpt={up}", f"image={tmp_path / 'wrong.png'}"], check=False)
    assert bad.returncode == 2 and "takes 32x32 images" in bad.stderr


def test_codec_quantizes_off_palette_inputs():
    codec = PixelCodec([(255, 255, 255), (220, 30, 30)])
    rgb = np.array([[[215, 40, 35], [250, 250, 250]]], np.uint8)
    assert codec.out_of_palette(rgb) == 1.0 and codec.quantize(rgb).tolist() == [[1, 0]]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_upsample():
    m = tiny().cuda()
    lo, _ = pair()
    out = upsample_tokens(m, lo.cuda(), generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 12, 16) and out.device.type == "cuda"
