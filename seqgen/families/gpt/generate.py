"""Sampling from a GPT: nanoGPT's generate with a KV cache, and prompt -> text for sample.py.

With the cache each step feeds one token while the sequence fits in block_size. Past it, the window
slides: every step crops the context to the last block_size tokens, exactly as without the cache
(nanoGPT's way), so `use_cache` never changes the tokens (slide="exact", the default). A cached key
cannot be reused after a slide: deeper layers' keys depend on the tokens the crop removed.
slide="half" (sample.py `cache_slide=half`) is the faster approximation: when the context fills,
keep the newest half and continue it with the cache (amortised O(1) per token; other tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqgen.core.errors import ConfigError
from seqgen.core.rundir import samples_path, write_texts
from seqgen.core.schema import key
from seqgen.data.tokenizer import encode_prompt
from seqgen.nn.sampling import eval_mode, sample_next

SLIDES = ("exact", "half")   # how the cache follows a window that slides past block_size


@dataclass
class SampleArgs:
    """sample.py keys of a GPT besides configs/sample.yaml's."""

    cache_slide: str = key("exact", choices=SLIDES)   # exact: the tokens of use_cache=false | half: faster


def stream(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None, use_cache: bool = True, slide: str = "exact"):
    """Yield max_new_tokens sampled tokens (B, 1), one at a time, as they are drawn after idx (B, T0).

    Every step conditions on the last block_size tokens. With the KV cache a step feeds one token
    while the sequence fits; once the window slides, slide="exact" re-runs the cropped window each
    step (the same tokens as use_cache=False), slide="half" keeps the newest half in the cache.
    Inference mode is entered per step, never across a yield: a consumer may resume the generator
    from another thread (a web app's worker pool), and grad modes are per thread.
    """
    if slide not in SLIDES:
        raise ConfigError(f"cache_slide={slide!r}: expected one of {list(SLIDES)}")
    block = model.config.block_size
    cache = model.new_cache(idx.size(0)) if use_cache else None
    with eval_mode(model):
        for i in range(max_new_tokens):
            with torch.inference_mode():
                if not use_cache:                       # nanoGPT's way: re-run the last block_size tokens
                    logits = model(idx[:, -block:])[:, -1, :]
                elif i == 0:                            # prefill the cache with the prompt (cropped)
                    logits = model(idx[:, -block:], cache=cache)[:, -1, :]
                elif slide == "exact" and idx.size(1) > block:   # the window slid: the cropped context,
                    logits = model(idx[:, -block:])[:, -1, :]    # as without the cache
                elif slide == "half" and cache.length >= block:  # half: keep the newest half, re-encode it
                    cache.reset()
                    logits = model(idx[:, -(block // 2):], cache=cache)[:, -1, :]
                else:                                   # one new token through the cache
                    logits = model(idx[:, -1:], cache=cache)[:, -1, :]
                nxt = sample_next(logits, temperature, top_k, top_p, generator)
                idx = torch.cat([idx, nxt], dim=1)
            yield nxt


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             slide: str = "exact") -> torch.Tensor:
    """Extend idx (B, T0) by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens) (see stream)."""
    drawn = list(stream(model, idx, max_new_tokens, temperature, top_k, top_p, generator, use_cache, slide))
    return torch.cat([idx, *drawn], dim=1) if drawn else idx


def sample_text(model, tokenizer, prompt: str, max_new_tokens: int, seed: int, device,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                num_samples: int = 1, use_cache: bool = True, slide: str = "exact") -> str | list[str]:
    """Encode prompt, generate with a seeded generator, decode. One string, or a list if num_samples > 1."""
    ids = encode_prompt(tokenizer, prompt) if prompt else []
    if not ids:
        raise ConfigError("prompt encodes to no tokens; give a non-empty prompt (e.g. prompt='\\n')")
    idx = torch.tensor([ids] * num_samples, dtype=torch.long, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = generate(model, idx, max_new_tokens, temperature, top_k, top_p, generator=gen, use_cache=use_cache,
                   slide=slide)
    texts = [tokenizer.decode(row.tolist()) for row in out]
    return texts[0] if num_samples == 1 else texts


def sample(model, tokenizer, state, sc, args, device) -> dict:
    """sample.py for a GPT: num_samples continuations of sc.prompt, printed and written to a text file."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    texts = sample_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed, device, sc.temperature,
                        sc.top_k, sc.top_p, num_samples=sc.num_samples, use_cache=sc.use_cache,
                        slide=args.cache_slide)
    texts = [texts] if isinstance(texts, str) else texts
    write_texts(texts, out)
    return {"texts": texts, "out": out}
