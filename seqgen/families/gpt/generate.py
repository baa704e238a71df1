"""Sampling from a GPT: nanoGPT's generate with a KV cache, and prompt -> text for sample.py.

With the cache each step feeds one token; when the context fills block_size, the oldest half is
dropped and the newest half re-encoded (amortised O(1) per token). Without it every step re-runs the
last block_size tokens, nanoGPT's way. Both give the same tokens while the sequence fits.
"""

from __future__ import annotations

import torch

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path, write_texts
from seqgen.nn.sampling import eval_mode, sample_next


def stream(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None, use_cache: bool = True):
    """Yield max_new_tokens sampled tokens (B, 1), one at a time, as they are drawn after idx (B, T0).

    With the KV cache each step feeds one token. When the context fills block_size, the oldest half
    is dropped and the rest re-encoded (amortised O(1) per token); without the cache every step
    re-runs the last block_size tokens (nanoGPT's way). Both give identical tokens while the whole
    sequence fits in block_size. Inference mode is entered per step, never across a yield: a consumer
    may resume the generator from another thread (a web app's worker pool), and grad modes are per thread.
    """
    block = model.config.block_size
    cache = model.new_cache(idx.size(0)) if use_cache else None
    with eval_mode(model):
        for i in range(max_new_tokens):
            with torch.inference_mode():
                if not use_cache:                       # nanoGPT's way: re-run the last block_size tokens
                    logits = model(idx[:, -block:])[:, -1, :]
                elif i == 0:                            # prefill the cache with the prompt
                    logits = model(idx[:, -block:], cache=cache)[:, -1, :]
                elif cache.length >= block:             # context full: keep the newest half, re-encode it
                    cache.reset()
                    logits = model(idx[:, -(block // 2):], cache=cache)[:, -1, :]
                else:                                   # one new token through the cache
                    logits = model(idx[:, -1:], cache=cache)[:, -1, :]
                nxt = sample_next(logits, temperature, top_k, top_p, generator)
                idx = torch.cat([idx, nxt], dim=1)
            yield nxt


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """Extend idx (B, T0) by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens) (see stream)."""
    drawn = list(stream(model, idx, max_new_tokens, temperature, top_k, top_p, generator, use_cache))
    return torch.cat([idx, *drawn], dim=1) if drawn else idx


def sample_text(model, tokenizer, prompt: str, max_new_tokens: int, seed: int, device,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                num_samples: int = 1, use_cache: bool = True) -> str | list[str]:
    """Encode prompt, generate with a seeded generator, decode. One string, or a list if num_samples > 1."""
    ids = tokenizer.encode(prompt) if prompt else []
    if not ids:
        raise ConfigError("prompt encodes to no tokens; give a non-empty prompt (e.g. prompt='\\n')")
    idx = torch.tensor([ids] * num_samples, dtype=torch.long, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = generate(model, idx, max_new_tokens, temperature, top_k, top_p, generator=gen, use_cache=use_cache)
    texts = [tokenizer.decode(row.tolist()) for row in out]
    return texts[0] if num_samples == 1 else texts


def sample(model, tokenizer, state, sc, args, device) -> dict:
    """sample.py for a GPT: num_samples continuations of sc.prompt, printed and written to a text file."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    texts = sample_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed, device, sc.temperature,
                        sc.top_k, sc.top_p, num_samples=sc.num_samples, use_cache=sc.use_cache)
    texts = [texts] if isinstance(texts, str) else texts
    write_texts(texts, out)
    return {"texts": texts, "out": out}
