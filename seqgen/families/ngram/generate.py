"""Shannon's game with an n-gram: draw each token from the full next-token distribution."""

from __future__ import annotations

import math

import torch

from seqgen.core.rundir import samples_path, write_texts
from seqgen.data.tokenizer import encode_prompt
from seqgen.families.ngram.model import next_log10probs
from seqgen.nn.sampling import sample_next


def ngram_text(model, tokenizer, prompt: str, max_new_tokens: int, seed: int,
               temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> str:
    """prompt + max_new_tokens drawn tokens; </s> starts a new line. The prompt's last line is the
    context (after <s>); <unk> is never drawn."""
    bos, eos, unk = model._specials()
    gen = torch.Generator().manual_seed(seed)
    ctx = [bos] + encode_prompt(tokenizer, prompt.split("\n")[-1])
    lines, current = [], []
    for _ in range(max_new_tokens):
        logits = torch.from_numpy(next_log10probs(model, [ctx]) * math.log(10))   # (1, V) natural log
        logits[:, unk] = float("-inf")
        nxt = int(sample_next(logits, temperature, top_k, top_p, gen))
        if nxt == eos:
            lines.append(tokenizer.decode(current))
            ctx, current = [bos], []
        else:
            ctx.append(nxt)
            current.append(nxt)
    lines.append(tokenizer.decode(current))
    joiner = " " if tokenizer.kind == "word" and prompt and not prompt.endswith((" ", "\n")) else ""
    return prompt + joiner + "\n".join(lines)


def sample(model, tokenizer, state, sc, args, device) -> dict:
    """sample.py for an n-gram: num_samples texts, seeds sc.seed, sc.seed + 1, ..."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    texts = [ngram_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed + i, sc.temperature, sc.top_k,
                        sc.top_p) for i in range(sc.num_samples)]
    write_texts(texts, out)
    return {"texts": texts, "out": out}
