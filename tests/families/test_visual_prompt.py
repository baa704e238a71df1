"""VisualPrompt: token plans, causality, KV cache, overfitting, seeded answers, input errors, and the
scripts end to end on a tiny trained checkpoint."""

import math

import numpy as np
import pytest
import torch

from seqgen.core.errors import ConfigError
from seqgen.data.images.visual import VisualConfig, make_split
from seqgen.families.visual_prompt.generate import answers, complete, prompt_of, read_image
from seqgen.families.visual_prompt.model import VisualPrompt, build_plan
from seqgen.families.visual_prompt.task import SentenceBatches, build_model
from tests.conftest import compose, overfit, run_script

CFG = VisualConfig(n_valid=8, n_test=2)
# the first release's model (2x2 patch tokens, a softmax head, no rotary positions, loss on every image),
# which the tests without their own keys count tokens of; the defaults are now the recipe's model
FIRST = dict(patch=2, head="vocab", rope=False, loss="all")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m, _ = build_model(dict(n_layer=2, n_head=2, n_embd=32, **FIRST), CFG, "cpu")
    return m.eval()


@pytest.fixture(scope="module")
def sentences():
    return torch.from_numpy(make_split(CFG, "test", 3).images).long().flatten(2)   # (3, 6, 256)


@pytest.mark.parametrize("form, n", [("sentence", 6), ("sentence", 2), ("canvas", 4)])
def test_plan_reads_each_token_after_predicting_it(form, n):
    L, w = 64, 8
    p = build_plan(form, n, L, w)
    assert torch.equal(p.src[1:], p.dst[:-1])          # a slot reads what the one before predicted
    tgt = p.tgt[p.tgt >= 0]
    assert sorted(tgt.tolist()) == list(range(n * L))  # every token predicted exactly once
    real = p.inp >= 0
    assert torch.equal(p.inp[1:][real[1:]], p.tgt[:-1][real[1:]])
    assert len(p.inp) == (n * (L + 1) - 1 if form == "sentence" else 4 * L)
    if form == "canvas":   # row r of B' comes after row r of B and before row r + 1 of B
        order = p.tgt.tolist()
        assert order.index(2 * L + w - 1) < order.index(3 * L) < order.index(2 * L + w)
        assert order.index(3 * L + w) > order.index(2 * L + 2 * w - 1)


def test_initial_loss_and_shapes(model, sentences):
    loss, _ = model.training_loss((sentences, None))
    assert abs(loss.item() - math.log(model.config.n_tokens + 1) / 4) < 0.05   # nats per pixel, near uniform
    assert model.seq_len == 6 * 65 - 1


@pytest.mark.parametrize("form", ["sentence", "canvas"])
def test_causal_and_cache_equals_full_forward(model, sentences, form):
    x = sentences if form == "sentence" else sentences[:, [0, 1, 4, 5]]
    tok, raw = model.encode(x)
    plan = model.plan(form, x.size(1))
    T = len(plan.inp)
    full = model.features(tok, raw, plan, 0, T)
    changed = tok.clone()
    f = int(plan.inp[150])                          # the token slot 150 reads
    changed[:, f] = (changed[:, f] + 1) % model.config.n_tokens
    out = model.features(changed, raw, plan, 0, T)
    assert torch.allclose(out[:, :150], full[:, :150], atol=1e-6) and not torch.allclose(out[:, 150:], full[:, 150:])
    cache = model.new_cache(x.size(0))
    parts = [model.features(tok, raw, plan, 0, 90, cache)]
    parts += [model.features(tok, raw, plan, s, s + 1, cache) for s in range(90, 100)]
    parts.append(model.features(tok, raw, plan, 100, T, cache))
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


@pytest.mark.parametrize("form", ["sentence", "canvas"])
def test_answers_seeded_and_cache_equals_recompute(model, sentences, form):
    x = sentences[:2, 2:] if form == "sentence" else sentences[:2, [0, 1, 4, 5]]   # 1 shot: a shorter recompute

    def draw(seed, **kw):
        return complete(model, x, form, 1.0, generator=torch.Generator().manual_seed(seed), **kw)

    a = draw(1)
    assert a.shape == (2, 256) and int(a.max()) < model.config.n_colors
    assert torch.equal(draw(1), a) and torch.equal(draw(1, use_cache=False), a)
    assert not torch.equal(draw(2), a)
    greedy = complete(model, x, form, 0.0)
    assert torch.equal(greedy, complete(model, x, form, 0.0, use_cache=False))


def test_escaped_patches_round_trip_and_are_scored(model, sentences):
    x = sentences[:1].clone()
    x[0, 5, :2] = torch.tensor([3, 9])             # two colours and the background in one patch: not in the vocabulary
    tok, raw = model.encode(x)
    assert (tok == model.esc_id).any()
    assert torch.equal(model.decode(tok[:, 5 * 64:], raw[:, 5 * 64:]), x[:, 5])
    assert torch.isfinite(model.nll(x, "sentence", [-1])).all()


def test_overfit_one_batch():
    torch.manual_seed(0)
    m, _ = build_model(dict(n_layer=2, n_head=2, n_embd=64, canvas=0.0, **FIRST), CFG, "cpu")
    x = torch.from_numpy(make_split(CFG, "valid", 2).images[:, -2:]).long().flatten(2)   # [B, B']: fast
    assert overfit(m, (x, None), 100) < 0.05
    m.eval()
    assert torch.equal(complete(m, x, "sentence", 0.0), x[:, -1])   # the memorised answer


@pytest.mark.parametrize("form, rope", [("sentence", False), ("canvas", False), ("sentence", True), ("canvas", True)])
def test_pixel_head_loss_cache_seeded_answers_and_overfit(sentences, form, rope):
    """head=pixels with 4x4 patches (and 2-D rotary positions): uniform colours at init, causal,
    cache == recompute, seeded draws; one batch memorised."""
    torch.manual_seed(0)
    m, _ = build_model(dict(n_layer=2, n_head=2, n_embd=32, patch=4, head="pixels", rope=rope, loss="all"), CFG,
                       "cpu")
    m.eval()
    assert m.head is None and m.seq_len == 6 * 17 - 1
    x = sentences[:2] if form == "sentence" else sentences[:2, [0, 1, 4, 5]]
    nats = m.nll(x, form, [-1])                    # (2,) the answer's pixels
    assert torch.allclose(nats / 256, torch.full((2,), math.log(m.config.n_colors)), atol=0.1)
    tok, raw = m.encode(x)
    plan = m.plan(form, x.size(1))
    changed = raw.clone()
    f = int(plan.inp[40])
    changed[:, f] = (changed[:, f] + 1) % m.config.n_colors   # pixels alone change what the model reads
    full, out = m.features(tok, raw, plan, 0, 60), m.features(tok, changed, plan, 0, 60)
    assert torch.allclose(out[:, :40], full[:, :40], atol=1e-6) and not torch.allclose(out[:, 40:], full[:, 40:])

    def draw(seed, **kw):
        return complete(m, x, form, 1.0, generator=torch.Generator().manual_seed(seed), **kw)

    a = draw(1)
    assert a.shape == (2, 256) and torch.equal(draw(1, use_cache=False), a) and not torch.equal(draw(2), a)
    if rope:   # the cache holds keys turned by what their slots read: chunked == one pass
        cache = m.new_cache(x.size(0))
        T = len(plan.inp)
        parts = [m.features(tok, raw, plan, 0, 30, cache)] + [m.features(tok, raw, plan, s, s + 1, cache)
                                                             for s in range(30, T)]
        assert torch.allclose(torch.cat(parts, 1), m.features(tok, raw, plan, 0, T), atol=1e-5)
    if form == "sentence":
        fit, _ = build_model(dict(n_layer=2, n_head=2, n_embd=64, patch=4, head="pixels", canvas=0.0, rope=rope,
                                  loss="answers"), CFG, "cpu")
        pair = x[:, -2:]
        assert overfit(fit, (pair, None), 150) < 0.01
        fit.eval()
        assert torch.equal(complete(fit, pair, "sentence", 0.0), pair[:, -1])


def test_loss_on_answers_scores_half_the_images_and_the_canvas_trains():
    torch.manual_seed(0)
    m, _ = build_model(dict(n_layer=1, n_head=2, n_embd=32, canvas=1.0, **{**FIRST, "loss": "answers"}), CFG,
                       "cpu")
    assert m.scored_images(6) == [1, 3, 5]
    x = torch.from_numpy(make_split(CFG, "valid", 2).images).long().flatten(2)
    m.train()
    torch.manual_seed(1)
    loss, _ = m.training_loss((x, None))           # every row a canvas of [A1, A1', B, B']
    expect = m.nll(x[:, [0, 1, 4, 5]], "canvas", [1, 3]).sum() / (2 * 2 * 256)
    assert torch.allclose(loss, expect)


def test_stream_is_resumable():
    a = SentenceBatches(CFG, 3)
    a.next()
    state = a.state_dict()
    x1, t1 = a.next()
    b = SentenceBatches(CFG, 3)
    b.load_state_dict(state)
    x2, t2 = b.next()
    assert torch.equal(x1, x2) and torch.equal(t1, t2) and x1.shape == (3, 6, 256)
    r1 = SentenceBatches(CFG, 2, rank=1, world=2).next()[0]
    assert not torch.equal(r1, SentenceBatches(CFG, 2, rank=0, world=2).next()[0])


def test_image_files_wrong_size_and_off_palette(tmp_path, capsys):
    from PIL import Image

    from seqgen.data.images.visual import codec

    pal = codec()
    img = make_split(CFG, "test", 1).images[0, 0]
    good = tmp_path / "a.png"
    Image.fromarray(pal.dequantize(img)).save(good)
    assert np.array_equal(read_image(good, pal, 16, "query"), img)
    assert "warning" not in capsys.readouterr().out
    rgb = pal.dequantize(img).astype(int)
    rgb[0, 0] = (250, 20, 25)                       # near red, not red
    Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "off.png")
    got = read_image(tmp_path / "off.png", pal, 16, "query")
    assert got[0, 0] == pal.quantize(np.array([[[220, 30, 30]]], np.uint8))[0, 0]
    assert "query=" in capsys.readouterr().out
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ConfigError, match=r"examples\[1\]=.*20x20 image.*16x16"):
        read_image(tmp_path / "big.png", pal, 16, "examples[1]")
    with pytest.raises(ConfigError, match="no such image"):
        read_image(tmp_path / "none.png", pal, 16, "query")


def test_too_many_shots_is_a_config_error(model):
    with pytest.raises(ConfigError, match="at most 6"):
        model.plan("sentence", 8)
    with pytest.raises(ConfigError, match="shots=3"):
        prompt_of(np.zeros((1, 6, 16, 16), np.uint8), 3)
    with pytest.raises(ConfigError, match="one example pair"):
        VisualPrompt(VisualPrompt.Config(n_colors=11, n_tokens=10, n_images=2, canvas=0.5))
    with pytest.raises(ConfigError, match="multiple of 4"):
        VisualPrompt(VisualPrompt.Config(n_colors=11, n_tokens=10, n_embd=36, n_head=6, rope=True))


def test_train_sample_and_evaluate_end_to_end(tmp_path):
    """A tiny run through train(); sample.py from PNG files (sentence and canvas) and evaluate()."""
    from PIL import Image

    from seqgen import evaluate, sample, train
    from seqgen.data.images.visual import codec

    over = ["experiment=visual_prompt_shapes", "trainer=smoke", "trainer.max_steps=2", "trainer.eval_every=2",
            "trainer.sample_every=2", "trainer.ckpt_every=2", "trainer.batch_size=2", "model.n_layer=1",
            "model.n_embd=32", "model.n_head=2", "data.n_valid=4", "data.n_test=2", "visual_prompt.eval_sentences=4",
            "visual_prompt.score_sentences=1", f"out_root={tmp_path}", "run_name=vp"]
    result = train(compose(over))
    ckpt = result["checkpoint"]
    assert (tmp_path / "vp" / "samples" / "step_0000002.png").is_file()
    pal = codec()
    s = make_split(CFG, "test", 1).images[0]
    names = []
    for i in (0, 1, 4):
        names.append(tmp_path / f"im{i}.png")
        Image.fromarray(pal.dequantize(s[i])).save(names[-1])
    out = tmp_path / "answer.png"
    run_script(["scripts/sample.py", f"ckpt={ckpt}", f"examples=[{names[0]},{names[1]}]", f"query={names[2]}",
                "num_samples=2", "scale=2", f"out={out}"])
    with Image.open(out) as im:
        assert im.size[0] > 5 * 32 and im.size[1] == 32 + 2 * 2   # one row: prompt | two answers
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(ConfigError, match=r"query=.*small.png: a 8x8 image"):
        sample(compose([f"ckpt={ckpt}", f"++query={tmp_path / 'small.png'}", f"out={out}"], config_name="sample"))
    with pytest.raises(ConfigError, match="expected pairs"):
        sample(compose([f"ckpt={ckpt}", f"++examples=[{names[0]}]", f"++query={names[2]}"], config_name="sample"))
    grid = np.block([[s[0], s[1]], [s[4], s[4]]])
    Image.fromarray(pal.dequantize(grid)).save(tmp_path / "canvas.png")
    res = sample(compose([f"ckpt={ckpt}", f"++canvas={tmp_path / 'canvas.png'}", f"out={tmp_path / 'c.png'}",
                          "temperature=0"], config_name="sample"))
    assert res["images"].shape == (1, 16, 16) and (tmp_path / "c.png").is_file()
    figs = evaluate({"ckpt": str(ckpt), "sentences": 1, "shots": [1], "compositions": False,
                     "figure": str(tmp_path / "fig.png")})
    for k in ("recolour/1shot/exact", "recolour/1shot/ppl", "mirror/canvas/pixel", "fill/unchanged/exact",
              "shift/analogy1/fg_iou", "mean/1shot/shape"):
        assert 0 <= figs[k] < math.inf, k
    assert (tmp_path / "fig.png").is_file()
    # evaluate.py prints a table of tasks, not one line per figure (572 lines on the recipe)
    from seqgen.app.evaluate import report

    printed = report(figs).splitlines()
    assert len(printed) < 60 < len(figs), (len(printed), len(figs))
    assert any(line.startswith("recolour ") for line in printed) and "ex2" in "\n".join(printed)
    assert answers(result["model"], prompt_of(make_split(CFG, "test", 2).images, 0)).shape == (2, 16, 16)


def test_scores_and_targets():
    from seqgen.data.images.visual import TARGET_TASKS
    from seqgen.families.visual_prompt.evaluate import scores, summary

    s = make_split(CFG, "test", 2)
    truth, bgs, shapes = s.images[:, -1], s.bgs[:, -1], s.shapes[:, -1].astype(np.int64)
    assert all(v.tolist() == [1.0, 1.0] for v in scores(truth, truth, bgs, shapes).values())
    assert s.tasks == ["recolour", "change_shape"]   # objects in the eight colours (indices 3..10)
    recoloured = np.where(truth != bgs[:, None, None], 3 + (truth - 2) % 8, truth).astype(np.uint8)   # the next colour
    got = scores(recoloured, truth, bgs, shapes)
    assert got["cb_iou"].tolist() == [1.0, 1.0] and got["shape"].tolist() == [1.0, 1.0]
    assert got["exact"].max() == 0 and got["fg_iou"].max() < 1
    base = {"2shot/exact": 0.6, "2shot/pixel": 0.97, "unchanged/exact": 0.0, "unchanged/pixel": 0.8,
            "analogy2/exact": 0.1, "analogy2/pixel": 0.9, "2shot/ppl": 1.1, "0shot/ppl": 2.0}
    good = {f"{t}/{k}": v for t in TARGET_TASKS for k, v in base.items()}
    assert summary(good, TARGET_TASKS, [0, 2])["targets_met"] == 1.0
    for key in ("mirror/analogy2/pixel", "mirror/0shot/ppl"):   # a baseline's pixels better; examples unused
        out = summary({**good, key: 0.98 if "pixel" in key else 1.0}, TARGET_TASKS, [0, 2])
        assert out["target/mirror"] == 0.0 and out["targets_met"] == 0.0 and out["target/recolour"] == 1.0
