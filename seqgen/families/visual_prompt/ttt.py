"""Test-time training: a few gradient steps on a prompt's own example pairs before answering it.

The examples of a prompt are the only data about its task, and they already have answers: with k
example pairs, every ordered choice of a context pair i and a target pair j != i is a 1-shot sentence
[A_i ; A_i' ; A_j ; A_j'] whose last image the model should draw (the prefix of a training sentence,
so the positions are the trained ones). Each step scores `copies` such sentences, each under a
random surface change applied to the whole sentence (VARC / TRM / the ARC test-time-training
recipe): a permutation of the object colours, and one of the square's eight symmetries. Applied to
every image of a sentence, either keeps it a sentence of one rule (a conjugate of the task: a mirror
stays a mirror about the other axis, a shift a shift in another direction), so the model practises
reading that kind of rule from examples. The weights are copied before and restored exactly after
each prompt (`adapted`), and the steps are seeded: the same prompt and seed give the same answer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from seqgen.core.errors import ConfigError
from seqgen.core.schema import key
from seqgen.data.images.visual_augment import DIHEDRAL, N_COLOURS, permute_colours

TTT_AUGMENTS = ("colours", "dihedral")


@dataclass
class TTTArgs:
    """The `ttt_*` keys of sample.py, evaluate.py and the bench (steps 0: plain in-context answers)."""

    ttt_steps: int = key(0, ge=0)                # gradient steps per prompt
    ttt_lr: float = key(3e-4, gt=0)              # AdamW learning rate of those steps
    ttt_copies: int = key(8, ge=1)               # augmented 1-shot sentences per step
    ttt_augment: list = field(default_factory=lambda: list(TTT_AUGMENTS))   # surface changes drawn per copy

    def __post_init__(self):
        bad = [a for a in self.ttt_augment if a not in TTT_AUGMENTS]
        if bad:
            raise ConfigError(f"ttt_augment={self.ttt_augment}: expected a list of {list(TTT_AUGMENTS)}")


def example_sentences(prompt: np.ndarray, rng: np.random.Generator, copies: int, kinds) -> np.ndarray:
    """prompt (n, S, S) [A1, A1', ..., B, _] -> (copies, 4, S, S) 1-shot sentences of its examples,
    each with its own random surface change."""
    k = prompt.shape[0] // 2 - 1
    if k < 1:
        raise ConfigError("test-time training needs at least one example pair in the prompt (shots >= 1)")
    pairs = prompt[:2 * k].reshape(k, 2, *prompt.shape[1:])
    orders = [(i, j) for i in range(k) for j in range(k) if i != j] or [(0, 0)]   # 1 pair: it predicts itself
    out = []
    for _ in range(copies):
        i, j = orders[rng.integers(len(orders))]
        s = np.concatenate([pairs[i], pairs[j]])                               # (4, S, S)
        if "colours" in kinds:
            s = permute_colours(s, rng.permutation(N_COLOURS))
        if "dihedral" in kinds:
            s = DIHEDRAL[list(DIHEDRAL)[rng.integers(len(DIHEDRAL))]](s)
        out.append(np.ascontiguousarray(s))
    return np.stack(out)


@contextlib.contextmanager
def adapted(model, prompt: np.ndarray, args: TTTArgs, seed: int = 0):
    """Inside the block the model is tuned on the prompt's examples; on leaving, every parameter and
    buffer is back bit for bit (and the train / eval mode too)."""
    if args.ttt_steps == 0:
        yield model
        return
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    try:
        tune(model, prompt, args, seed)
        yield model
    finally:
        model.load_state_dict(saved)
        model.train(was_training)


def tune(model, prompt: np.ndarray, args: TTTArgs, seed: int = 0) -> list[float]:
    """args.ttt_steps AdamW steps on the answer loss of augmented example sentences -> losses (nats
    per pixel) before each step. Eval mode throughout (no dropout): the steps are deterministic."""
    rng = np.random.default_rng([seed, 7])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.ttt_lr, weight_decay=0.0)
    model.eval()
    losses = []
    for _ in range(args.ttt_steps):
        batch = example_sentences(prompt, rng, args.ttt_copies, args.ttt_augment)
        x = torch.from_numpy(batch).long().to(model.device).flatten(2)           # (copies, 4, S*S)
        with torch.enable_grad():
            loss = model.nll(x, "sentence", scored=[-1]).mean() / model.num_pixels
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        losses.append(float(loss.detach()))
    return losses
