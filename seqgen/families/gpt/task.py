"""A GPT's training task: the prepared token stream, the model, validation and text samples."""

from __future__ import annotations

from dataclasses import replace

import torch

from seqgen.core.training import RunContext, Task
from seqgen.data.prepare import load_prepared, prepare, prepared_dir
from seqgen.data.text import TextBatches
from seqgen.families.gpt.evaluate import evaluate_lm
from seqgen.families.gpt.generate import sample_text
from seqgen.families.gpt.model import GPT


def make_task(ctx: RunContext) -> Task:
    spec, dist, run_dir = ctx.spec, ctx.dist, ctx.run_dir
    data = ctx.main_first(lambda: prepare(spec.data, spec.data_root),
                          lambda: load_prepared(prepared_dir(spec.data, spec.data_root)))
    torch.manual_seed(spec.seed)  # same initial weights on every rank
    model = GPT(replace(spec.model, vocab_size=data.tokenizer.vocab_size)).to(dist.device)
    block = model.config.block_size
    stream = TextBatches(data.tokens("train"), block, spec.trainer.batch_size, spec.seed + 1000 * dist.rank + 1)
    valid = data.tokens("valid")

    def evaluate_fn(m, final=False):
        return evaluate_lm(m, valid, block, spec.trainer.batch_size, dist.device,
                           spec.trainer.eval_batches, data.chars_per_token("valid"), prefix="val")

    samples_dir = run_dir / "samples"
    # a prompt that the tokenizer drops (e.g. "\n" for whitespace-split words) falls back to the
    # first validation token, so the end-of-training sample never fails
    prompt = spec.trainer.sample_prompt
    if not data.tokenizer.encode(prompt):
        prompt = data.tokenizer.decode([int(valid[0])])

    def sample_fn(m, step):
        text = sample_text(m, data.tokenizer, prompt, spec.trainer.sample_tokens, seed=spec.seed, device=dist.device)
        samples_dir.mkdir(exist_ok=True)
        (samples_dir / f"step_{step:07d}.txt").write_text(text, encoding="utf-8")
        ctx.tracker.log_text("samples", text, step)

    return Task(model, stream, evaluate_fn, sample_fn, {"tokenizer": data.tokenizer.to_json()},
                tokenizer=data.tokenizer, files={"tokenizer.json": data.tokenizer.to_json()},
                data_identity=data.meta.get("identity"))
