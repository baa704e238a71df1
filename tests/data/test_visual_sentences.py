"""Visual sentences: deterministic, held-out splits disjoint from training, every task what it says."""

import numpy as np
import pytest

from seqgen.core.errors import ConfigError
from seqgen.data.images import visual as V


@pytest.fixture(scope="module")
def cfg():
    return V.VisualConfig(n_valid=40, n_test=6)


@pytest.fixture(scope="module")
def train(cfg):
    return V.make_split(cfg, "train", 400)


def test_splits_are_deterministic_and_each_sentence_stands_alone(cfg):
    a, b = V.make_split(cfg, "test"), V.make_split(cfg, "test")
    assert np.array_equal(a.images, b.images) and a.rules == b.rules
    assert a.images.shape == (6 * len(V.TASKS), 6, 16, 16) and a.images.dtype == np.uint8
    one = V.draw(cfg, "test", 7)
    assert np.array_equal(one["images"], a.images[7]) and one["rule"] == a.rules[7]
    assert np.array_equal(V.make_split(cfg, "valid", 3, start=5).images, V.make_split(cfg, "valid").images[5:8])
    other = V.make_split(V.VisualConfig(n_test=6, seed=1), "test")
    assert not np.array_equal(other.images, a.images)
    assert [t for t in a.tasks[:len(V.TASKS)]] == list(V.TASKS)   # test cycles through the tasks
    pool = V.VisualConfig(n_train=5)
    assert V.train_index(pool, 12) == 2 and V.train_index(cfg, 12) == 12


def test_held_out_combinations_never_reach_training(cfg, train):
    seen = {c for r in train.rules for c in V.combinations(r)}
    assert seen and not any(V.is_held_out(c) for c in seen)
    valid = V.make_split(cfg, "valid")
    assert not any(V.is_held_out(c) for r in valid.rules for c in V.combinations(r))
    test = V.make_split(cfg, "test")
    assert all(len(r["tasks"]) == 1 and V.is_held_out(V.combinations(r)[0]) for r in test.rules)
    assert not seen & {c for r in test.rules for c in V.combinations(r)}
    # no composition of the held-out ones is trained; the compose split holds only those
    trained_pairs = {r["tasks"] for r in train.rules if len(r["tasks"]) == 2}
    assert trained_pairs and not trained_pairs & set(V.HELD_OUT_COMPOSITIONS)
    comp = V.make_split(cfg, "compose")
    assert {r["tasks"] for r in comp.rules} == set(V.HELD_OUT_COMPOSITIONS)
    assert not any(V.is_held_out(c) for r in comp.rules for c in V.combinations(r))   # only the pairing is new


def test_every_colour_and_shape_stays_in_training():
    for t in V.KEYED:
        assert len(V.held_out_colours(t)) == 2                 # 6 of 8 colours trained per task
    froms = {a for a, _ in V.HELD_RECOLOUR} | {b for _, b in V.HELD_RECOLOUR}
    assert froms == set(range(len(V.COLOURS))) and len(V.HELD_RECOLOUR) == 16
    assert len(V.HELD_SHAPE) == len(V.SHAPES)
    for task in V.COMPOSABLE:   # every composable task meets another in training
        assert any(task in (a, b) for i, a in enumerate(V.COMPOSABLE) for b in V.COMPOSABLE[i + 1:]
                   if (a, b) not in V.HELD_OUT_COMPOSITIONS)


def _index(colour_idx):
    return V.S.INDEX[V.COLOURS[colour_idx]]


def test_each_task_is_the_rule_it_names(cfg, train):
    checked = set()
    for images, rule, bgs in zip(train.images, train.rules, train.bgs):
        if len(rule["tasks"]) != 1:
            continue
        t = rule["tasks"][0]
        for a, b, bg in zip(images[0::2], images[1::2], bgs[0::2]):
            assert not np.array_equal(a, b)
            if t == "recolour":
                assert np.array_equal(b, np.where(a == _index(rule["c_from"]), _index(rule["c_to"]), a))
            elif t == "mirror":
                assert np.array_equal(b, a[:, ::-1] if rule["mirror"] == "horizontal" else a[::-1])
            elif t == "segment":
                assert np.array_equal(b, np.where(a != bg, V.WHITE, V.BLACK))
            elif t == "outline":
                assert np.array_equal(b, np.where(V.edges(a != bg), a, bg))
            elif t == "colourise":
                assert set(np.unique(a)) <= {V.GREY, int(bg)} and np.array_equal(b != bg, a != bg)
                assert set(np.unique(b[b != bg])) == {_index(rule["colour"])}
            elif t == "fill":
                assert ((a != bg) <= (b != bg)).all() and (b != bg).sum() - (a != bg).sum() == V.HOLE ** 2
            elif t == "shift":
                d = {"left": (0, -3), "right": (0, 3), "up": (-3, 0), "down": (3, 0)}[rule["shift"]]
                assert np.array_equal(np.roll(a, d, axis=(0, 1)), b)
            elif t == "change_size":
                grow = rule["change_size"] == "grow"
                assert ((b != bg).sum() > (a != bg).sum()) == grow
            checked.add(t)
    assert checked >= set(V.TASKS) - {"change_shape"}


def test_shape_reader_is_right_on_ground_truth(train):
    imgs, bgs, shapes = (x.reshape(-1, *x.shape[2:]) for x in (train.images, train.bgs, train.shapes))
    outputs = np.arange(len(imgs)) % 2 == 1     # fill inputs carry a hole: score the outputs and the rest
    got = V.classify_shapes(imgs, bgs.reshape(-1))
    assert (got == shapes.reshape(-1))[outputs].mean() >= 0.99
    assert V.classify_shapes(np.zeros((1, 16, 16), np.uint8), np.zeros(1, np.uint8))[0] == -1


def test_bad_config_is_named():
    with pytest.raises(ConfigError, match="data.tasks"):
        V.VisualConfig(tasks=["recolour", "paint"])
    with pytest.raises(ConfigError, match="split="):
        V.draw(V.VisualConfig(), "holdout", 0)
    with pytest.raises(ConfigError, match="held-out composition"):
        V.draw(V.VisualConfig(tasks=["outline"]), "compose", 0)


def test_larger_images_keep_the_rules():
    big = V.VisualConfig(size=32, n_test=1)
    s = V.make_split(big, "test")
    assert s.images.shape[-2:] == (32, 32)
    assert (V.classify_shapes(s.images[:, -1], s.bgs[:, -1]) == s.shapes[:, -1]).mean() >= 0.99
