"""Fitting an n-gram: count the train lines, estimate, report valid / test perplexity (KenLM's
conventions), save the tables."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from seqgen.core.training import RunContext, save_fitted, stop_requests, stopped
from seqgen.data.prepare import data_identity, prepare
from seqgen.data.sources import load_splits, text_lines
from seqgen.data.text import as_ids, window_of
from seqgen.families.ngram.evaluate import ngram_scores, ngram_text_scores
from seqgen.families.ngram.io import model_vocab, to_state
from seqgen.families.ngram.model import NGram


def split_lines(text: str, blank: bool = False) -> list[str]:
    """Lines of a text; blank=False drops empty ones (KenLM-style sentences), True keeps every line."""
    if blank:
        return text_lines(text)
    return [ln for ln in text.split("\n") if ln.strip()]


def line_ids(ids, starts: np.ndarray, ends: np.ndarray, block: int = 1 << 22):
    """Each line's ids (int64) from a token file: read in windows of about `block` ids (a few system
    calls, not one per line, and no mapping whose touched pages would stay resident)."""
    src = as_ids(ids)
    i, n = 0, len(starts)
    while i < n:
        a = int(starts[i])
        j = max(i + 1, int(np.searchsorted(ends, a + block, side="right")))   # lines ending inside the window
        buf = window_of(src, a, int(ends[j - 1]) - a).astype(np.int64)
        for s, e in zip((starts[i:j] - a).tolist(), (ends[i:j] - a).tolist()):
            yield buf[s:e]
        i = j


def fit_text(text: str, tok, order: int = 3, smoothing: str = "mkn", blank: bool = False) -> NGram:
    """An n-gram of `text` in memory, without a run folder (the demo's Shannon tab): one line is one
    sentence, as in fit()."""
    vocab = model_vocab(tok)
    lines = [np.asarray(tok.encode(ln), np.int64) for ln in split_lines(text, blank)]
    cfg = NGram.Config(order=order, smoothing=smoothing, blank_lines=blank, vocab_size=len(vocab))
    return NGram(cfg).fit(lines, vocab)


def _readers(spec, data, tok, blank: bool):
    """(source, scores): source(split) -> a function yielding each line's ids (afresh at each call),
    scores(model, split) -> the figures evaluate.py reports for that split."""
    spans = {s: data.lines(s, blank) for s in ("train", "valid", "test")}
    every = {s: data.lines(s, True) for s in ("valid", "test")}
    if all(v is not None for v in [*spans.values(), *every.values()]):
        # the prepared token file and its line index: the ids encoding each line of the text gives,
        # without reading the text (memory: the memmap, plus the lines themselves unless model.memory)
        def source(split, blank_lines=blank):
            ids = data.tokens(split) if data.meta["tokens"][split] else np.zeros(0, np.int64)
            starts, ends = spans[split] if blank_lines == blank else every[split]
            return lambda: line_ids(ids, starts, ends)

        def scores(model, split):   # the figures of ngram_text_scores (evaluate.py), from the ids
            info = data.meta["lines"][split]
            chars = data.meta["chars"][split] + (not info["final_newline"])   # every line + its newline
            whole = None if blank else list(source(split, True)())
            return ngram_scores(model, list(source(split)()), whole, chars)
        return source, scores
    # BPE, or a folder prepared before line indexes: encode each line of the re-read text
    texts = load_splits(spec.data, Path(spec.data_root).expanduser() / "raw")

    def source_text(split):
        return lambda: (np.asarray(tok.encode(ln), np.int64) for ln in split_lines(texts.get(split, ""), blank))

    def scores_text(model, split):
        return ngram_text_scores(model, tok, texts[split])
    return source_text, scores_text


def fit(ctx: RunContext) -> dict:
    spec = ctx.spec
    data = prepare(spec.data, spec.data_root)
    tok = data.tokenizer
    vocab = model_vocab(tok)
    blank = spec.model.blank_lines
    source, scores = _readers(spec, data, tok, blank)
    ident = json.dumps(data_identity(spec.data))   # what it was fitted on: lets evaluate.py trust those paths
    with stop_requests() as stop:   # SIGTERM / Ctrl-C: the stage running ends, the model is saved, exit 143 / 130
        t0 = time.perf_counter()
        config = replace(spec.model, vocab_size=len(vocab))
        model = NGram(config).fit(source("train") if config.memory else list(source("train")()), vocab)
        metrics = {"fit_seconds": time.perf_counter() - t0}
        print(f"[seqgen] ngram order {model.config.order} ({model.config.smoothing}): "
              f"{sum(len(k) for k in model.keys):,} n-grams, vocab {len(vocab):,}, fitted in "
              f"{metrics['fit_seconds']:.1f} s", flush=True)
        for split, prefix in (("valid", "val"), ("test", "test")):
            if stop.signum:   # the counted model is whole: save it, with the figures measured so far
                save_fitted(ctx, model, to_state(model), metrics, tokenizer=tok, data_identity=ident)
                raise stopped(stop.signum, f"before the {split} perplexity (the n-gram tables are complete)",
                              "run the same command again to refit and evaluate (counting is deterministic)")
            if not data.meta["tokens"].get(split):
                continue
            r = scores(model, split)   # the figures evaluate.py reports, one definition
            metrics.update({f"{prefix}/{k}": v for k, v in r.items() if k not in ("lines", "chars")})
            print(f"[seqgen] {split}: perplexity {r['ppl']:.2f} (excluding OOVs {r['ppl_excl_oov']:.2f}) over "
                  f"{r['lines']}, {r['tokens']:,} tokens, {r['oov']:,} OOV; {r['bpc']:.4f} bits/char over every "
                  f"line", flush=True)
    ctx.tracker.log(metrics, 0)
    return save_fitted(ctx, model, to_state(model), metrics, tokenizer=tok, data_identity=ident)
