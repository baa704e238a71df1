"""Text2Pixel: contracts, causality, KV cache, overfitting, guidance, and the scripts end to end."""

import math

import numpy as np
import pytest
import torch

from seqgen.data.images.prepare import encode_caption
from seqgen.families.text2pixel.generate import generate_pixels
from seqgen.families.text2pixel.model import Text2Pixel
from tests.conftest import ROOT, overfit, run_script


def tiny(**kw):
    cfg = dict(text_vocab_size=20, n_colors=6, caption_len=5, height=6, width=6, n_layer=2, n_head=2,
               n_embd=32, caption_dropout=0.0, patch=1)   # one pixel per step (the default is 2x2 patches)
    cfg.update(kw)
    torch.manual_seed(0)
    return Text2Pixel(Text2Pixel.Config(**cfg))


def batch(B=3, m=None, seed=0):
    m = m or tiny()
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, m.config.text_vocab_size, (B, m.config.caption_len), generator=g)
    pixels = torch.randint(0, m.config.n_colors, (B, m.num_pixels), generator=g)
    return text, pixels


def test_shapes_and_initial_loss():
    m = tiny()
    text, pixels = batch(m=m)
    logits = m(text, pixels[:, :-1])
    assert logits.shape == (3, 36, 6)
    loss, _ = m.training_loss((text, pixels))
    assert abs(loss.item() - math.log(6)) < 0.1


def test_causal_and_caption_conditioned():
    m = tiny().eval()
    text, pixels = batch(m=m)
    base = m(text, pixels[:, :-1])
    changed = pixels.clone()
    changed[:, 20] = (changed[:, 20] + 1) % 6
    out = m(text, changed[:, :-1])
    # the logits for pixels 0..20 do not see pixel 20; those after do
    assert torch.allclose(out[:, :21], base[:, :21], atol=1e-6)
    assert not torch.allclose(out[:, 21:], base[:, 21:])
    other = text.clone()
    other[:, 0] = (other[:, 0] + 1) % 20
    assert not torch.allclose(m(other, pixels[:, :-1])[:, 0], base[:, 0])


def test_kv_cache_matches_full_forward():
    m = tiny().eval()
    text, pixels = batch(m=m)
    full = m(text, pixels[:, :-1])
    cache = m.new_cache(3)
    first = m(text, pixels[:, :10], cache=cache)           # prefix + 10 pixels -> logits for pixels 0..10
    steps = [m(None, pixels[:, j:j + 1], cache=cache) for j in range(10, 35)]
    stepped = torch.cat([first] + steps, dim=1)
    assert stepped.shape == full.shape
    assert torch.allclose(stepped, full, atol=1e-5)


def test_overfit_one_batch():
    m = tiny(n_embd=64)
    assert overfit(m, batch(B=2, m=m), 150) < 0.05


def test_caption_dropout_uses_the_null_caption():
    m = tiny(caption_dropout=1.0)
    text, pixels = batch(m=m)
    m.train()
    loss_dropped, _ = m.training_loss((text, pixels))
    m.config.caption_dropout = 0.0
    null_loss, _ = m.training_loss((m.null_text(3), pixels))
    assert torch.allclose(loss_dropped, null_loss)


def test_sampling_seeded_guidance_one_equals_conditional_and_cache_equals_recompute():
    m = tiny().eval()
    text, _ = batch(m=m)

    def draw(**kw):
        return generate_pixels(m, text, generator=torch.Generator().manual_seed(7), **kw)

    plain = draw()
    assert plain.shape == (3, 36) and int(plain.max()) < 6
    assert torch.equal(draw(), plain)                                  # seeded
    assert torch.equal(draw(guidance=1.0), plain)                      # CFG scale 1 == conditional
    assert torch.equal(draw(use_cache=False), plain)                   # cache == recompute
    assert torch.equal(draw(guidance=3.0, use_cache=False), draw(guidance=3.0))
    assert not torch.equal(draw(guidance=0.0), plain) or not torch.equal(draw(guidance=8.0), plain)
    greedy = draw(temperature=0.0)
    assert torch.equal(greedy, draw(temperature=0.0, guidance=1.0))


def test_guidance_logits_are_the_cfg_mix(monkeypatch):
    """With scale g the sampled distribution is softmax(u + g (c - u)) of the two forward passes."""
    import seqgen.families.text2pixel.generate as sampling

    m = tiny().eval()
    text, _ = batch(B=1, m=m)
    seen = []

    def record(logits, *args, **kwargs):
        seen.append(logits)
        return torch.zeros(1, 1, dtype=torch.long)

    monkeypatch.setattr(sampling, "sample_next", record)
    generate_pixels(m, text, guidance=2.5, generator=torch.Generator())
    start = torch.full((1, 0), 0, dtype=torch.long)
    c = m(text, start)[:, -1]
    u = m(m.null_text(1), start)[:, -1]
    assert torch.allclose(seen[0], u + 2.5 * (c - u), atol=1e-5)


def test_caption_encoding_errors_and_truncation():
    from seqgen.data.tokenizer import WordTokenizer

    tok = WordTokenizer.fit(["a red circle on the left"], lowercase=True)
    assert encode_caption(tok, "a red circle", 5)[-2:] == [tok.vocab_size] * 2
    with pytest.raises(ValueError, match="empty"):
        encode_caption(tok, "", 5)
    with pytest.raises(ValueError, match="caption slot holds 3"):
        encode_caption(tok, "a red circle on the left", 3)
    assert len(encode_caption(tok, "a red circle on the left", 3, strict=False)) == 3   # documented truncation


def test_train_and_sample_scripts_write_png(tmp_path):
    """experiment=text2pixel_shapes, shrunk: trains, resumes, logs images; sample.py writes a PNG grid."""
    from PIL import Image

    common = ["experiment=text2pixel_shapes", "trainer=smoke", "trainer.max_steps=8", "trainer.eval_every=4",
              "trainer.sample_every=8", "trainer.ckpt_every=4", "trainer.batch_size=2", "data.n_train=40",
              "data.n_valid=4", "data.n_test=4", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
              "text2pixel.eval_images=4", "text2pixel.fidelity_images=2", "text2pixel.sample_images=2",
              f"out_root={tmp_path}", f"data_root={tmp_path / 'data'}", "run_name=t2p", "logger=tensorboard"]
    res = run_script(["scripts/train.py", *common])
    assert "caption fidelity on held-out combinations" in res.stdout
    run = tmp_path / "t2p"
    assert (run / "samples" / "step_0000008.png").is_file()
    assert any((run / "tensorboard").iterdir())
    ckpt = run / "checkpoints" / "last.pt"
    out = tmp_path / "grid.png"
    prompt = "prompt=a small red circle on the left on a white background"
    res = run_script(["scripts/sample.py", f"ckpt={ckpt}", prompt, "num_samples=3", "scale=2", "digits=true",
                      f"out={out}"])
    with Image.open(out) as im:
        assert im.size == (3 * (64 + 2) + 2, 64 + 4)
    assert len(out.with_suffix(".txt").read_text().split("\n\n")) == 3
    bad = run_script(["scripts/sample.py", f"ckpt={ckpt}", "prompt=' '", f"out={out}"], check=False)
    assert bad.returncode == 2 and "prompt is empty" in bad.stderr
    long_prompt = " ".join(["red"] * 40)
    bad = run_script(["scripts/sample.py", f"ckpt={ckpt}", f"prompt='{long_prompt}'", f"out={out}"], check=False)
    assert bad.returncode == 2 and "caption slot holds" in bad.stderr
    # rerunning with more steps resumes from the checkpoint
    res = run_script(["scripts/train.py", *common, "trainer.max_steps=10"])
    assert "resuming from" in res.stdout


def test_image_model_needs_image_data(tmp_path):
    res = run_script(["scripts/train.py", "model=text2pixel", "trainer=smoke", f"out_root={tmp_path}"], check=False)
    assert res.returncode == 2 and "reads image datasets" in res.stderr


def test_imagefolder_dataset(tmp_path):
    """A user's folder (Hugging Face imagefolder layout) is cropped, resized, quantized and split."""
    import json

    from PIL import Image

    from seqgen.core.errors import DataError
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(12):
        arr = np.full((40, 60, 3), 255, np.uint8)
        arr[10:30, 20:40] = rng.integers(0, 255, 3)
        Image.fromarray(arr).save(folder / f"{i}.png")
        lines.append(json.dumps({"file_name": f"{i}.png", "text": f"a box number {i}"}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    cfg = ImageDataConfig(name="imagefolder", path=str(folder), palette_size=8, valid_frac=0.25)
    data = prepare_images(cfg, tmp_path / "data", verbose=False)
    assert data.count("train") == 9 and data.count("valid") == 3
    assert data.lo("train").shape == (9, 32, 32) and data.hi("train").shape == (9, 128, 128)
    assert data.codec.size <= 8 and data.captions("valid")[0][0].startswith("a box number")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="metadata.jsonl"):
        prepare_images(ImageDataConfig(name="imagefolder", path=str(empty)), tmp_path / "d2", verbose=False)
    with pytest.raises(DataError, match="caption_column"):
        prepare_images(ImageDataConfig(name="imagefolder", path=str(folder), caption_column="caption"),
                       tmp_path / "d3", verbose=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_kv_cache_bf16():
    m = tiny().cuda().eval()
    text, pixels = batch(m=m)
    text, pixels = text.cuda(), pixels.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        full = m(text, pixels[:, :-1]).float()
        cache = m.new_cache(3)
        stepped = torch.cat([m(text, pixels[:, :0], cache=cache)] +
                            [m(None, pixels[:, j:j + 1], cache=cache) for j in range(35)], dim=1).float()
    assert (stepped - full).abs().max() < 0.1
    out = generate_pixels(m, text, guidance=3.0, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 36) and out.device.type == "cuda"


assert ROOT.is_dir()


def test_guidance_run_reads_the_checkpoints_own_scale():
    from seqgen.core.errors import ConfigError
    from seqgen.families.text2pixel.generate import run_guidance

    assert run_guidance("run", {"config": {"text2pixel": {"guidance": 2.0}}}) == 2.0
    assert run_guidance("run", {"config": {}}) == 3.0          # runs from before the key: the old default
    assert run_guidance(None, {"config": {"text2pixel": {"guidance": 2.0}}}) is None
    assert run_guidance(1.5, {}) == 1.5
    with pytest.raises(ConfigError, match="guidance='auto'"):
        run_guidance("auto", {})


def test_guidance_null_draws_and_says_the_fidelity_row_once():
    """With guidance null the guided and unguided rows are one draw: scored once and flagged fresh once,
    so train.py prints its glyph / caption fidelity line once (it printed it twice)."""
    from seqgen.families.text2pixel.evaluate import guided_and_unguided

    calls = []
    rows = list(guided_and_unguided(("glyphs", "glyphs_noguide"), None, lambda g: calls.append(g) or {"x": 1.0}))
    assert calls == [None]
    assert [(n, fresh) for n, _, _, fresh in rows] == [("glyphs", True), ("glyphs_noguide", False)]
    rows = list(guided_and_unguided(("f", "f_noguide"), 2.0, lambda g: calls.append(g) or {"x": g or 0.0}))
    assert calls == [None, 2.0, None] and all(fresh for *_, fresh in rows)


def test_the_fidelity_scorer_is_chosen_by_the_data_not_its_name():
    """text2pixel scores caption fidelity with the checker a prepared dataset declares (meta.json's
    `checker`; folders prepared before it was written take their dataset's), never by comparing names."""
    from pathlib import Path

    from seqgen.data.images.prepare import CHECKERS, PreparedImages
    from seqgen.families.text2pixel.evaluate import SCORERS, scorer_for

    def prepared(**meta):
        return PreparedImages(Path("."), None, None, {"images": {}, **meta})

    assert set(CHECKERS.values()) <= set(SCORERS)   # every checker the data layer names has a scorer
    assert scorer_for(prepared(dataset="shapes")) is SCORERS["shapes"]
    assert scorer_for(prepared(dataset="emoji")) is SCORERS["glyphs"]
    assert scorer_for(prepared(dataset="imagefolder")) is None
    assert scorer_for(prepared(dataset="my_glyph_set", checker="glyphs")) is SCORERS["glyphs"]
    assert scorer_for(prepared(dataset="shapes", checker=None)) is None
