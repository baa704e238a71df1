"""visual_prompt's training task: a stream of generated visual sentences, the patch vocabulary fitted
on training images, the loss and answer perplexity per shots during training, held-out exact match
at the end, and sample grids of held-out prompts."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from functools import lru_cache

import numpy as np
import torch

from seqgen.core.training import RunContext, Task
from seqgen.data.identity import identity
from seqgen.data.images.patches import coverage, fit_vocab
from seqgen.data.images.visual import GENERATOR, TASKS, VisualConfig, codec, draw, make_split, train_index
from seqgen.data.images.visual_augment import augment
from seqgen.families.visual_prompt.evaluate import answer_nats, mean_scores
from seqgen.families.visual_prompt.generate import answers, picture, prompt_of
from seqgen.families.visual_prompt.model import VisualPrompt
from seqgen.nn.sampling import eval_mode

VOCAB_SENTENCES = 2000   # training sentences the patch vocabulary is fitted on



class SentenceBatches:
    """Training batches (images (B, n, S*S) long, task index (B,)). Draw i of rank r is training
    sentence i * world + r (seqgen.data.images.visual.draw), under data.augment's surface change
    drawn from its own seed (seed, i * world + r), so the counter is the whole state: resume is
    exact and ranks never share a sentence."""

    def __init__(self, cfg: VisualConfig, batch_size: int, rank: int = 0, world: int = 1, block_size: int = 0):
        self.cfg, self.batch_size, self.rank, self.world = cfg, batch_size, rank, world
        self.count = 0
        self.block_size = block_size   # slots per sentence, for tokens/s

    def next(self):
        items = []
        for _ in range(self.batch_size):
            i = self.count * self.world + self.rank
            item = draw(self.cfg, "train", train_index(self.cfg, i))
            if self.cfg.augment:   # per draw, not per sentence: a cycled pool (n_train) changes surface too
                item = augment(item, np.random.default_rng([self.cfg.seed, 101, i]), self.cfg.augment)
            items.append(item)
            self.count += 1
        images = torch.from_numpy(np.stack([d["images"] for d in items])).long().flatten(2)
        tasks = torch.tensor([TASKS.index(d["rule"]["tasks"][0]) for d in items])
        return images, tasks

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = int(state["count"])


def fitted_vocab(cfg: VisualConfig, patch: int, max_vocab: int) -> np.ndarray:
    """The patch vocabulary of the first VOCAB_SENTENCES training sentences (deterministic: the same
    config always gives the same vocabulary; cached per config)."""
    return _vocab(json.dumps(asdict(cfg), sort_keys=True), patch, max_vocab).copy()


@lru_cache(maxsize=8)
def _vocab(cfg_json: str, patch: int, max_vocab: int) -> np.ndarray:
    cfg = VisualConfig(**json.loads(cfg_json))
    grids = make_split(cfg, "train", VOCAB_SENTENCES).images.reshape(-1, cfg.size, cfg.size)
    return fit_vocab(grids, patch, max_vocab)


def build_model(config: VisualPrompt.Config | dict, cfg: VisualConfig, device) -> tuple[VisualPrompt, np.ndarray]:
    """The run's model: `config` (the run's typed model config, or a dict of its keys) with the fields
    the data fills (palette, image size, images per sentence, the patch vocabulary) -> (model, vocab)."""
    if isinstance(config, dict):
        config = VisualPrompt.Config(**config)
    vocab = fitted_vocab(cfg, config.patch, config.max_vocab)
    model = VisualPrompt(replace(config, n_colors=codec().size, size=cfg.size, n_images=cfg.n_images,
                                 n_tokens=len(vocab)))
    model.set_vocab(vocab)
    return model.to(device), vocab


def evaluation(dc: VisualConfig, st, valid, test, device, seed: int):
    """The Trainer's evaluate_fn: the valid loss and the answers' nats per pixel by shots at every
    evaluation (on up to st.eval_sentences sentences), held-out exact match at the end."""
    n_eval = st.eval_sentences
    valid_eval = valid.subset(np.arange(min(len(valid), n_eval or len(valid))))
    spread = np.linspace(0, len(test) - 1, min(len(test), n_eval or len(test))).round().astype(int)
    test_eval = test.subset(np.unique(spread))

    def evaluate_fn(m, final=False):
        out = {}
        with eval_mode(m), torch.no_grad():
            x = torch.from_numpy(valid_eval.images).long().to(device).flatten(2)
            nats = sum(m.nll(x[s:s + 64], "sentence", m.scored_images(x.size(1))).sum().item()
                       for s in range(0, len(x), 64))
            out["valid/loss"] = nats / (len(x) * len(m.scored_images(x.size(1))) * m.num_pixels)
            for shots in range(dc.shots + 1):
                prompts = prompt_of(test_eval.images, shots)
                out[f"test/{shots}shot_nats_per_pixel"] = float(answer_nats(m, prompts).mean()) / m.num_pixels
        if final and st.score_sentences:
            out.update(held_out_scores(m, dc, st, test, seed))
        return out
    return evaluate_fn


def held_out_scores(m, dc: VisualConfig, st, test, seed: int) -> dict:
    """Exact match and pixel accuracy of st.score_sentences held-out prompts per task, 0-shot and
    dc.shots-shot -> {test/<k>shot_exact, test/<k>shot_pixel}."""
    t1 = time.perf_counter()
    out = {}
    held = test.subset(np.concatenate([idx[:st.score_sentences] for idx in test.by_task().values()]))
    for shots in sorted({0, dc.shots}):
        prompts = prompt_of(held.images, shots)
        pred = answers(m, prompts, "sentence", st.temperature, st.top_k, seed=seed)
        s = mean_scores(pred, held.images[:, -1], held.bgs[:, -1], held.shapes[:, -1].astype(np.int64))
        out.update({f"test/{shots}shot_{k}": v for k, v in s.items() if k in ("exact", "pixel")})
    print(f"[seqgen] held-out prompts ({st.score_sentences} per task, {time.perf_counter() - t1:.0f} s): "
          f"{dc.shots}-shot exact match {out[f'test/{dc.shots}shot_exact']:.3f}, pixel accuracy "
          f"{out[f'test/{dc.shots}shot_pixel']:.3f} (0-shot {out['test/0shot_exact']:.3f}, "
          f"{out['test/0shot_pixel']:.3f}); scripts/evaluate.py gives every task and the baselines",
          flush=True)
    return out


def make_task(ctx: RunContext) -> Task:
    spec, dist, run_dir = ctx.spec, ctx.dist, ctx.run_dir
    dc, st, tc = spec.data, spec.settings, spec.trainer
    torch.manual_seed(spec.seed)
    t0 = time.perf_counter()
    model, vocab = build_model(spec.model, dc, dist.device)
    valid, test = make_split(dc, "valid"), make_split(dc, "test")
    if dist.is_main:
        print(f"[seqgen] visual sentences: {dc.shots} example pairs + the query, {dc.size}x{dc.size}, tasks "
              f"{', '.join(dc.tasks)}; {len(vocab)} {model.config.patch}x{model.config.patch} patch tokens "
              f"covering {100 * coverage(test.images.reshape(-1, dc.size, dc.size), vocab):.2f}% of held-out "
              f"patches ({time.perf_counter() - t0:.1f} s)", flush=True)
    stream = SentenceBatches(dc, tc.batch_size, dist.rank, dist.world_size, model.seq_len)
    pal = codec()
    samples_dir = run_dir / "samples"

    def sample_fn(m, step):
        image = picture(m, test, pal, samples_dir / f"step_{step:07d}.png", st.sample_prompts, seed=spec.seed,
                        temperature=st.temperature)
        ctx.tracker.log_image("samples", image, step, caption="held-out prompts: examples, query | answer | truth")

    meta = {"size": dc.size, "n_images": dc.n_images, "tasks": dc.tasks}
    return Task(model, stream, evaluation(dc, st, valid, test, dist.device, spec.seed),
                sample_fn if st.sample_prompts else None,
                {"codec": pal.to_json(), "data_meta": json.dumps(meta)},
                files={"codec.json": pal.to_json()},
                data_identity=identity(dc, generator=GENERATOR))
