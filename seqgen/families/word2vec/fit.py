"""Fitting word2vec: gensim's SGD over the train split's lines of words, then its evaluations."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import ConfigError
from seqgen.core.training import RunContext, save_fitted, stop_requests, stopped
from seqgen.data.prepare import data_identity, prepare
from seqgen.data.sources import load_splits
from seqgen.data.tokenizer import UNK, WordTokenizer
from seqgen.families.word2vec.model import Word2Vec
from seqgen.families.word2vec.vectors import evaluate_word_vectors


def fit(ctx: RunContext) -> dict:
    spec, tracker = ctx.spec, ctx.tracker
    if spec.data.tokenizer != "word":
        raise ConfigError(f"model=word2vec needs word tokens: set data.tokenizer=word (got {spec.data.tokenizer!r})")
    model = Word2Vec(replace(spec.model))   # a copy: the model sets its vocab_size
    prepared = _prepared_lines(spec)
    lines = None
    if prepared is None:   # re-read the train text and split its lines into words
        texts = load_splits(spec.data, Path(spec.data_root).expanduser() / "raw")
        lines = [WordTokenizer.tokenize(ln, spec.data.word_split, spec.data.lowercase)
                 for ln in texts["train"].split("\n") if ln.strip()]
    resume = _stopped_fit(ctx)
    ident = json.dumps(data_identity(spec.data))   # what it was fitted on: lets evaluate.py trust those paths
    step = [None]   # the tracker's step, shared with on_epoch below
    log, log_step = _loggers(model, tracker, resume, step)
    backend, dev = model.resolve_backend()
    print(f"[seqgen] word2vec: {'skip-gram' if model.config.sg else 'CBOW'}, {backend} trainer on {dev.type}, "
          f"{model.config.workers if dev.type == 'cpu' else 1} worker(s)", flush=True)

    def tok():
        return WordTokenizer([UNK] + model.vocab, spec.data.word_split, spec.data.lowercase)

    t0 = time.perf_counter()
    with stop_requests() as stop:
        def on_epoch(done: int, g):   # SIGTERM / Ctrl-C: save the epochs done, resumable by the same command
            if stop.signum:
                progress = {"epoch": done, "rng": g.get_state(), "history": model.history, "step": step[0] or 0}
                save_fitted(ctx, model, model.state(), {"epochs_done": done}, tokenizer=tok(), fit_progress=progress,
                            data_identity=ident)
                raise stopped(stop.signum, f"after word2vec epoch {done}/{model.config.epochs}")

        if prepared is None:
            model.fit(lines, log=log, log_step=log_step, resume=resume, on_epoch=on_epoch)
        else:
            model.fit_ids(*prepared, log=log, log_step=log_step, resume=resume, on_epoch=on_epoch)
    metrics = {"fit_seconds": time.perf_counter() - t0, "vocab": len(model.vocab)}
    if model.config.eval_sets:
        metrics.update(evaluate_word_vectors(model.vocab, model.vectors, Path(spec.data_root).expanduser() / "raw"))
        tracker.log(metrics, step[0] or 0)
    return save_fitted(ctx, model, model.state(), metrics, tokenizer=tok(), data_identity=ident)


def _loggers(model, tracker, resume: dict | None, step: list):
    """(log, log_step) for Word2Vec.fit: per epoch (printed and tracked) and per SGD step (tracked)."""
    def log_step(rec):  # one step = one ~1M-word chunk of SGD; a resumed fit goes on from the stopped one's
        if step[0] is None:
            step[0] = resume.get("step", 0) if resume and model.start_epoch else 0
        step[0] += 1
        tracker.log({"train/loss": rec["loss"], "lr": rec["lr"], "progress": rec["progress"]}, step[0])

    def log(rec):
        tracker.log({f"epoch/{k}": v for k, v in rec.items()}, step[0] or 0)
        print(f"[seqgen] epoch {rec['epoch']}: loss {rec['loss']:.4f}, {rec['words_per_s']:,.0f} effective "
              f"words/s, {rec['pairs']:,} examples", flush=True)
    return log, log_step


def _stopped_fit(ctx: RunContext) -> dict | None:
    """The run folder's checkpoint of a fit stopped part-way ({fit_progress, vocab, vectors, ...}), or
    None (train.py has already checked that it holds the same model)."""
    path = ckpt.latest(ctx.run_dir / "checkpoints")
    if path is None or ctx.spec.trainer.resume == "never":
        return None
    state = ckpt.load(path)
    progress = state.get("fit_progress")
    return {**state["model"], **progress} if progress else None


def _prepared_lines(spec):
    """(ids, (starts, ends), itos, line-break id) of the prepared train split, read in place, when its
    words are the ones the text path would read: a word vocabulary fitted on all of train with nothing
    left out (min_count 1, no max_vocab, no tokenizer_sample), so no word became <unk>; else None."""
    d = spec.data
    if d.min_count != 1 or d.max_vocab is not None or d.tokenizer_sample:
        return None
    data = prepare(d, spec.data_root)
    spans = data.lines("train", blank=False)
    if spans is None:
        return None
    tok = data.tokenizer
    drop = tok.stoi["\n"] if "\n" in tok.stoi and tok.split == "words" else None
    return data.tokens("train"), spans, tok.itos, drop
