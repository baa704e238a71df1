"""Shannon's game at unbounded order: each token drawn from the next-token counts after the longest
suffix of the text so far that occurs in the corpus at least `min_count` times (and is at most
`max_suffix_len` tokens long), so the text does not simply replay one training document. The copy
rate measures how much it (or any text) replays anyway."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqgen.core.rundir import samples_path, write_texts
from seqgen.core.schema import key
from seqgen.nn.sampling import sample_next

COPY_LENGTHS = (8, 16, 32, 64)


@dataclass
class SampleArgs:
    min_count: int = key(2, ge=1)                  # back off until the context was seen this often
    max_suffix_len: int | None = key(None, ge=0)   # at most this many context tokens (null: unbounded)


def next_logits(engine, ids: np.ndarray, max_len, min_count: int) -> tuple[torch.Tensor, int]:
    """(1, V) log-counts after the chosen suffix (-inf for unseen tokens), and the suffix length."""
    q = engine._ids(ids, "context", allow_empty=True)
    k, ranges = engine.longest_suffix(q, max_len, min_count)
    _, counts = engine._next(q[len(q) - k:], ranges)
    logits = torch.full((1, engine.vocab_size), float("-inf"), dtype=torch.float64)
    for t, c in counts.items():
        logits[0, engine._out_id(t)] = float(np.log(c))
    return logits, k


def infgram_ids(model, prompt_ids: list[int], max_new_tokens: int, seed: int, temperature: float = 1.0,
                top_k=None, top_p=None, min_count: int = 2, max_suffix_len=None) -> tuple[list[int], list[int]]:
    """(drawn ids, suffix length used for each) after prompt_ids; a seeded torch.Generator draws."""
    eng = model.engine
    gen = torch.Generator().manual_seed(seed)
    limits = [x for x in (model.max_len, max_suffix_len) if x is not None]
    max_len = min(limits) if limits else None
    ctx = ([eng.eos_token_id] if eng.eos_token_id is not None else []) + list(prompt_ids)
    out, used = [], []
    for _ in range(max_new_tokens):
        logits, k = next_logits(eng, np.asarray(ctx, np.int64), max_len, min_count)
        nxt = int(sample_next(logits.float(), temperature, top_k, top_p, gen))
        ctx.append(nxt)
        out.append(nxt)
        used.append(k)
    return out, used


def copy_report(engine, ids, lengths=COPY_LENGTHS) -> dict:
    """How much of a token sequence appears verbatim in the corpus: per token the longest span ending
    there that occurs (match length); `copied_L`: share of tokens inside a found span of >= L tokens."""
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        return {"tokens": 0}
    m = engine.match_lengths(ids)
    out = {"tokens": int(len(ids)), "match_len_mean": float(m.mean()), "match_len_median": float(np.median(m)),
           "match_len_max": int(m.max())}
    for L in lengths:
        covered = np.zeros(len(ids) + 1, np.int64)
        ends = np.flatnonzero(m >= L)
        np.add.at(covered, ends - m[ends] + 1, 1)      # span [j - m_j + 1, j] marks its tokens
        np.add.at(covered, ends + 1, -1)
        out[f"copied_{L}"] = float((np.cumsum(covered)[:-1] > 0).mean())
    return out


def sample(model, tokenizer, state, sc, args: SampleArgs, device) -> dict:
    """sample.py for an ∞-gram: num_samples texts (seeds sc.seed, sc.seed + 1, ...) and their copy rate."""
    out = samples_path(sc.ckpt, sc.out, sc.seed, ".txt", (".txt", ".md"))
    prompt_ids = tokenizer.encode(sc.prompt) if sc.prompt else []
    texts, reports = [], []
    for i in range(sc.num_samples):
        ids, used = infgram_ids(model, prompt_ids, sc.max_new_tokens, sc.seed + i, sc.temperature, sc.top_k,
                                sc.top_p, args.min_count, args.max_suffix_len)
        texts.append(sc.prompt + tokenizer.decode(ids) if tokenizer.kind != "word" or not sc.prompt.strip()
                     else tokenizer.decode(prompt_ids + ids))
        rep = copy_report(model.engine, ids)
        rep["suffix_len_mean"] = float(np.mean(used)) if used else 0.0
        reports.append(rep)
    write_texts(texts, out)
    if reports and reports[0]["tokens"]:
        r = reports[0]
        print(f"[seqgen] sample 0: mean context {r['suffix_len_mean']:.1f} tokens; copy rate: "
              + ", ".join(f"{r[f'copied_{L}']:.2f} of tokens in a corpus span >= {L}" for L in COPY_LENGTHS[:2])
              + f"; longest span {r['match_len_max']}", flush=True)
    return {"texts": texts, "out": out, "copy": reports}
