"""The neural bigram, registered as a family: a task for the shared Trainer, a sampler, an evaluation."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from seqgen.core.rundir import samples_path, write_texts
from seqgen.core.training import RunContext, Task
from seqgen.data.prepare import DataConfig, load_prepared, prepare, prepared_dir
from seqgen.data.text import TextBatches, eval_windows
from seqgen.families.base import Family
from seqgen.families.bigram.model import Bigram
from seqgen.nn.sampling import eval_mode, sample_next


@torch.no_grad()
def bits_per_char(model, tokens, chars_per_token: float, device) -> float:
    total, count = 0.0, 0
    with eval_mode(model):
        for x, y in eval_windows(tokens, model.config.block_size, 16):
            logits = model(x.to(device))
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1).to(device),
                                     ignore_index=-1, reduction="sum").item()
            count += int((y >= 0).sum())
    return total / max(1, count) / math.log(2) / chars_per_token


def make_task(ctx: RunContext) -> Task:
    spec = ctx.spec
    data = ctx.main_first(lambda: prepare(spec.data, spec.data_root),
                          lambda: load_prepared(prepared_dir(spec.data, spec.data_root)))
    torch.manual_seed(spec.seed)
    model = Bigram(replace(spec.model, vocab_size=data.tokenizer.vocab_size)).to(ctx.dist.device)
    stream = TextBatches(data.tokens("train"), model.config.block_size, spec.trainer.batch_size, spec.seed + 1)
    valid = data.tokens("valid")

    def evaluate_fn(m, final=False):
        return {"val/bpc": bits_per_char(m, valid, data.chars_per_token("valid"), ctx.dist.device)}

    return Task(model, stream, evaluate_fn, lambda m, step: None, {"tokenizer": data.tokenizer.to_json()},
                tokenizer=data.tokenizer)


def sample(model, tokenizer, state, sc, args, device) -> dict:
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt")
    gen = torch.Generator().manual_seed(sc.seed)
    texts = []
    for _ in range(sc.num_samples):
        ids = tokenizer.encode(sc.prompt) or [0]
        for _ in range(sc.max_new_tokens):   # the next token depends on the last one only
            logits = model(torch.tensor([[ids[-1]]], device=device))[:, -1]
            ids.append(int(sample_next(logits, sc.temperature, sc.top_k, sc.top_p, gen)))
        texts.append(tokenizer.decode(ids))
    write_texts(texts, out)
    return {"texts": texts, "out": out}


def evaluate(model, tokenizer, state, ec, args, device) -> dict:
    from seqgen.core.schema import build

    data = prepare(build(DataConfig, dict(state["config"]["data"]), "data"), ec.data_root, verbose=False)
    split = "test" if data.meta["tokens"].get("test") else "valid"
    return {"split": split, "bpc": bits_per_char(model, data.tokens(split), data.chars_per_token(split), device)}


FAMILY = Family(name="bigram", Model=Bigram, DataConfig=DataConfig, derived=("vocab_size",),
                make_task=make_task, sample=sample, evaluate=evaluate)
