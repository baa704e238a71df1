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


@torch.inference_mode()
def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             slide: str = "exact") -> torch.Tensor:
    """Extend idx (B, T0) by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens).

    Every step conditions on the last block_size tokens. With the KV cache a step feeds one token
    while the sequence fits; once the window slides, slide="exact" re-runs the cropped window each
    step (the same tokens as use_cache=False), slide="half" keeps the newest half in the cache.
    """
    if slide not in SLIDES:
        raise ConfigError(f"cache_slide={slide!r}: expected one of {list(SLIDES)}")
    block = model.config.block_size
    with eval_mode(model):
        if not use_cache:
            for _ in range(max_new_tokens):
                logits = model(idx[:, -block:])[:, -1, :]      # crop to the window, (B, V) last logits
                idx = torch.cat([idx, sample_next(logits, temperature, top_k, top_p, generator)], dim=1)
            return idx
        cache = model.new_cache(idx.size(0))
        logits = model(idx[:, -block:], cache=cache)[:, -1, :]
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            idx = torch.cat([idx, nxt], dim=1)
            if i == max_new_tokens - 1:
                break
            if slide == "exact":
                if idx.size(1) <= block:          # the window still holds everything: feed one token
                    logits = model(nxt, cache=cache)[:, -1, :]
                else:                             # the window slid: the cropped context, as without a cache
                    logits = model(idx[:, -block:])[:, -1, :]
            elif cache.length >= block:           # half: keep the newest half, re-encode it into the cache
                cache.reset()
                logits = model(idx[:, -(block // 2):], cache=cache)[:, -1, :]
            else:
                logits = model(nxt, cache=cache)[:, -1, :]
        return idx


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
