"""Visual prompting beyond its training tasks: rule-keeping augmentations (apply-then-solve ==
solve-then-apply per task), the held-out-task split, and test-time training (exact restore, seeded,
lowers the loss on the prompt's pairs)."""

import numpy as np
import pytest
import torch

from seqgen.core.errors import ConfigError
from seqgen.data.identity import identity
from seqgen.data.images.visual import TASKS, UNSEEN_TASKS, VisualConfig, draw, make_split
from seqgen.data.images.visual_augment import (
    DIHEDRAL,
    SOLVABLE,
    augment,
    commuting,
    permute_colours,
    solve,
    translate,
    translates,
)
from seqgen.families.visual_prompt.generate import answers, prompt_of
from seqgen.families.visual_prompt.task import SentenceBatches, build_model
from seqgen.families.visual_prompt.ttt import TTTArgs, adapted, example_sentences, tune


def sentences_of(task, n=6, split="train"):
    cfg = VisualConfig(tasks=[task], p_compose=0.0)
    return [draw(cfg, split, i) for i in range(n)]


def pairs(item):
    im, bgs = item["images"], item["bgs"]
    return [(im[k], im[k + 1], int(bgs[k]), int(bgs[k + 1])) for k in range(0, len(im), 2)]


@pytest.mark.parametrize("task", SOLVABLE)
def test_reference_solver_reproduces_the_generator(task):
    for item in sentences_of(task):
        for a, b, bg, _ in pairs(item):
            assert np.array_equal(solve(task, item["rule"], a, bg), b), (task, item["rule"])


@pytest.mark.parametrize("task", SOLVABLE)
def test_apply_then_solve_equals_solve_then_apply(task):
    """Every surface change the augmentation may draw for this task commutes with its solver; the
    dihedral elements it may not draw really do not commute (for mirror and shift)."""
    broke = set()
    for item in sentences_of(task, 8):
        rule = item["rule"]
        for g in DIHEDRAL:
            ok = all(np.array_equal(solve(task, rule, np.ascontiguousarray(DIHEDRAL[g](a)), bg),
                                    DIHEDRAL[g](b)) for a, b, bg, _ in pairs(item))
            if g in commuting(rule):
                assert ok, (task, g, rule)
            elif not ok:
                broke.add(g)
        perm = np.random.default_rng(1).permutation(8)
        moved = dict(rule, **{k: int(perm[rule[k]]) for k in ("c_from", "c_to", "colour") if rule.get(k) is not None})
        for a, b, bg, _ in pairs(item):
            assert np.array_equal(solve(task, moved, permute_colours(a, perm), bg), permute_colours(b, perm))
        if translates(rule):
            for a, b, bg, bg2 in pairs(item):
                fg = (a != bg) | (b != bg2)
                ys, xs = np.nonzero(fg)
                dy = 1 if ys.max() < 15 else -1 if ys.min() > 0 else 0
                dx = 1 if xs.max() < 15 else -1 if xs.min() > 0 else 0
                ta = translate(a[None], np.array([bg]), dy, dx)[0]
                tb = translate(b[None], np.array([bg2]), dy, dx)[0]
                assert np.array_equal(solve(task, rule, ta, bg), tb), (task, dy, dx)
    if task in ("mirror", "shift"):
        assert broke, f"{task}: a quarter turn should change its rule"
    else:
        assert not broke


@pytest.mark.parametrize("task", ["change_size", "change_shape"])
def test_size_and_shape_keep_their_relation_under_every_symmetry(task):
    """No pixel solver: in every frame the answer's object keeps its area, and the offset from the
    input's box centre to the answer's turns with the frame (the relation is the same one, turned)."""
    turn = {"identity": ((1, 0), (0, 1)), "flip_h": ((1, 0), (0, -1)), "flip_v": ((-1, 0), (0, 1)),
            "rot180": ((-1, 0), (0, -1)), "rot90": ((0, -1), (1, 0)), "rot270": ((0, 1), (-1, 0)),
            "transpose": ((0, 1), (1, 0)), "antitranspose": ((0, -1), (-1, 0))}   # (row, col) offsets
    centre = lambda m: np.argwhere(m).min(0) + np.argwhere(m).max(0)   # noqa: E731 (twice the box centre)
    for item in sentences_of(task, 6):
        assert set(commuting(item["rule"])) == set(DIHEDRAL)
        for g in DIHEDRAL:
            for a, b, bg, bg2 in pairs(item):
                ga, gb = DIHEDRAL[g](a), DIHEDRAL[g](b)
                assert (gb != bg2).sum() == (b != bg2).sum()
                offset = centre(b != bg2) - centre(a != bg)
                assert np.array_equal(centre(gb != bg2) - centre(ga != bg), np.array(turn[g]) @ offset), g


def test_augmented_training_sentences_stay_consistent():
    """A drawn augmentation keeps every pair of a sentence an example of the (updated) rule."""
    cfg = VisualConfig(tasks=list(SOLVABLE), augment=["colours", "dihedral", "translate"], p_compose=0.0)
    for i in range(40):
        item = augment(draw(cfg, "train", i), np.random.default_rng(i), cfg.augment)
        task = item["rule"]["tasks"][0]
        for a, b, bg, _ in pairs(item):
            assert np.array_equal(solve(task, item["rule"], a, bg), b), (i, item["rule"])


def test_training_stream_is_augmented_and_resumes_exactly():
    cfg = VisualConfig(augment=["colours", "dihedral", "translate"])
    plain = SentenceBatches(VisualConfig(), 4).next()[0]
    a = SentenceBatches(cfg, 4)
    first = a.next()[0]
    assert not torch.equal(first, plain)
    b = SentenceBatches(cfg, 4)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.next()[0], b.next()[0])


def test_held_out_tasks_split_is_disjoint_and_deterministic():
    seen = [t for t in TASKS if t not in UNSEEN_TASKS]
    cfg = VisualConfig(tasks=seen, held_out_tasks=list(UNSEEN_TASKS), n_test=3)
    trained = {t for i in range(300) for t in draw(cfg, "train", i)["rule"]["tasks"]}
    assert trained and not trained & set(UNSEEN_TASKS)
    unseen = make_split(cfg, "unseen")
    assert sorted(set(unseen.tasks)) == sorted(UNSEEN_TASKS) and len(unseen) == 9
    assert np.array_equal(unseen.images, make_split(cfg, "unseen").images)
    assert not set(make_split(cfg, "test").tasks) & set(UNSEEN_TASKS)
    with pytest.raises(ConfigError, match="held_out_tasks"):
        VisualConfig(tasks=list(TASKS), held_out_tasks=["mirror"])
    with pytest.raises(ConfigError, match="no task out"):
        draw(VisualConfig(), "unseen", 0)
    with pytest.raises(ConfigError, match="augment"):
        VisualConfig(augment=["rotate"])


def test_new_keys_at_their_default_keep_the_data_identity():
    """Checkpoints of runs from before data.augment / data.held_out_tasks still resume."""
    base = identity(VisualConfig())["config"]
    assert identity(VisualConfig(augment=[]))["config"] == base
    assert identity(VisualConfig(augment=["colours"]))["config"] != base
    import hashlib
    import json
    from dataclasses import asdict
    old = {k: v for k, v in asdict(VisualConfig()).items() if k not in ("augment", "held_out_tasks")}
    assert base == hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = VisualConfig(n_valid=4, n_test=2)
    m, _ = build_model(dict(n_layer=1, n_head=2, n_embd=32, patch=4, head="pixels"), cfg, "cpu")
    return m.eval(), prompt_of(make_split(cfg, "test", 2).images, 2)


def test_ttt_restores_weights_exactly_and_is_seeded(tiny):
    model, prompts = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = TTTArgs(ttt_steps=3, ttt_lr=1e-2, ttt_copies=2)
    with adapted(model, prompts[0], args, seed=1):
        changed = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert changed
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    one = answers(model, prompts, ttt=args, seed=3)
    two = answers(model, prompts, ttt=args, seed=3)
    assert np.array_equal(one, two)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_ttt_lowers_the_loss_on_the_prompts_pairs(tiny):
    model, prompts = tiny
    args = TTTArgs(ttt_steps=12, ttt_lr=3e-3, ttt_copies=4, ttt_augment=[])
    with adapted(model, prompts[0], args, seed=0):
        x = torch.from_numpy(example_sentences(prompts[0], np.random.default_rng(0), 2, [])).long().flatten(2)
        after = model.nll(x, "sentence", scored=[-1]).mean().item()
    before = model.nll(x, "sentence", scored=[-1]).mean().item()
    assert after < 0.8 * before
    with pytest.raises(ConfigError, match="example pair"):
        tune(model, prompts[0][-2:], args)
    with pytest.raises(ConfigError, match="ttt_augment"):
        TTTArgs(ttt_augment=["flip"])


def test_evaluation_scores_ttt_and_the_unseen_split(tiny):
    from seqgen.data.images.visual import codec
    from seqgen.families.visual_prompt.evaluate import EvalArgs, evaluate_set

    model, _ = tiny
    cfg = VisualConfig(tasks=["recolour", "mirror"], held_out_tasks=["shift"], n_test=1)
    args = EvalArgs(shots=[2], canvas=False, analogy=False, ttt_steps=1, ttt_copies=1)
    out = evaluate_set(model, make_split(cfg, "unseen"), codec(), args)
    assert {"shift/2shot/exact", "shift/2shot_ttt/exact", "shift/unchanged/pixel"} <= set(out)
