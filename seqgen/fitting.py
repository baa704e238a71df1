"""Models fitted without the gradient Trainer: the n-gram (counting) and word2vec (its own SGD).

run.train hands over the validated RunSpec; like run.py, this owns the run directory's contents.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from seqgen.core import checkpoint as ckpt
from seqgen.core import distributed as D
from seqgen.config import ConfigError, RunSpec
from seqgen.data.prepare import prepare
from seqgen.data.sources import load_splits, text_lines
from seqgen.models import build_model
from seqgen.run import check_same_model, link_last
from seqgen.core.tracking import Tracker


def fit_counts(spec: RunSpec, dist: D.DistInfo, run_dir: Path) -> dict:
    if not dist.is_main:  # one process's job; other ranks have nothing to do
        return {"run_dir": run_dir, "checkpoint": None, "step": 0, "metrics": {}, "model": None}
    existing = ckpt.latest(run_dir / "checkpoints")
    if existing is not None:  # refitting the same model is harmless; a different one would overwrite
        if spec.trainer.resume == "never":
            raise ConfigError(f"{existing.parent} already holds a checkpoint and trainer.resume=never: pick "
                              f"another run_name or delete that folder")
        check_same_model(spec, ckpt.load(existing), existing)
    from omegaconf import OmegaConf

    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(spec.plain), run_dir / "config.yaml")
    tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name)
    try:
        fit = {"ngram": fit_ngram, "word2vec": fit_word2vec}[spec.model_name]
        return fit(spec, run_dir, tracker)
    finally:
        tracker.finish()


def _split_lines(text: str, blank: bool = False) -> list[str]:
    """Lines of a text; blank=False drops empty ones (KenLM-style sentences), True keeps every line."""
    if blank:
        return text_lines(text)
    return [ln for ln in text.split("\n") if ln.strip()]


def _save(spec: RunSpec, run_dir: Path, model, tokenizer, state: dict, metrics: dict) -> dict:
    tokenizer.save(run_dir / "tokenizer.json")
    path = ckpt.save({"model_name": spec.model_name, "model_config": model.config.__dict__.copy(),
                      "tokenizer": tokenizer.to_json(), "model": state, "step": 0, "metrics": metrics,
                      "config": spec.plain}, ckpt.step_path(run_dir / "checkpoints", 0))
    link_last(path)
    print(f"[seqgen] checkpoint: {run_dir / 'checkpoints' / 'last.pt'}", flush=True)
    return {"run_dir": run_dir, "checkpoint": run_dir / "checkpoints" / "last.pt", "step": 0,
            "metrics": metrics, "model": model}


def fit_ngram(spec: RunSpec, run_dir: Path, tracker) -> dict:
    """Fit on the train lines, report valid / test perplexity (KenLM's conventions), save."""
    from seqgen.models.ngram import BOS, EOS, UNK, perplexity
    from seqgen.models.ngram_io import to_state

    tok = prepare(spec.data, spec.data_root).tokenizer
    texts = load_splits(spec.data, Path(spec.data_root).expanduser() / "raw")
    # the model's vocabulary: the tokenizer's ids unchanged, then <s>, </s> (and <unk> if missing)
    itos = [tok.decode([i]) if tok.kind != "word" else tok.itos[i] for i in range(tok.vocab_size)]
    vocab = itos + [w for w in (BOS, EOS, UNK) if w not in itos]

    blank = bool(spec.model.get("blank_lines", False))

    def lines(split):
        return [np.asarray(tok.encode(ln), np.int64) for ln in _split_lines(texts.get(split, ""), blank)]

    t0 = time.perf_counter()
    model = build_model(spec.model_name, spec.model, vocab_size=len(vocab)).fit(lines("train"), vocab)
    metrics = {"fit_seconds": time.perf_counter() - t0}
    print(f"[seqgen] ngram order {model.config.order} ({model.config.smoothing}): "
          f"{sum(len(k) for k in model.keys):,} n-grams, vocab {len(vocab):,}, fitted in "
          f"{metrics['fit_seconds']:.1f} s", flush=True)
    for split, prefix in (("valid", "val"), ("test", "test")):
        split_lines = lines(split)
        if not split_lines:
            continue
        r = perplexity(model, split_lines)
        chars = sum(len(ln) + 1 for ln in _split_lines(texts[split], blank))
        metrics.update({f"{prefix}/ppl": r["ppl"], f"{prefix}/ppl_excl_oov": r["ppl_excl_oov"],
                        f"{prefix}/tokens": r["tokens"], f"{prefix}/oov": r["oov"],
                        f"{prefix}/bits_per_token": r["bits_per_token"],
                        f"{prefix}/bpc": -r["log10_sum"] * float(np.log2(10)) / chars})
        print(f"[seqgen] {split}: perplexity {r['ppl']:.2f} (excluding OOVs {r['ppl_excl_oov']:.2f}), "
              f"{r['tokens']:,} tokens, {r['oov']:,} OOV", flush=True)
    tracker.log(metrics, 0)
    return _save(spec, run_dir, model, tok, to_state(model), metrics)


def fit_word2vec(spec: RunSpec, run_dir: Path, tracker) -> dict:
    """Train on the train split's lines of words; evaluate analogies and word-pair similarity."""
    from seqgen.data.tokenizer import UNK, WordTokenizer

    if spec.data.tokenizer != "word":
        raise ConfigError(f"model=word2vec needs word tokens: set data.tokenizer=word (got {spec.data.tokenizer!r})")
    texts = load_splits(spec.data, Path(spec.data_root).expanduser() / "raw")
    lines = [WordTokenizer.tokenize(ln, spec.data.word_split, spec.data.lowercase)
             for ln in _split_lines(texts["train"])]
    model = build_model(spec.model_name, spec.model)
    step = [0]

    def log_step(rec):  # one step = one ~1M-word chunk of SGD
        step[0] += 1
        tracker.log({"train/loss": rec["loss"], "lr": rec["lr"], "progress": rec["progress"]}, step[0])

    def log(rec):
        tracker.log({f"epoch/{k}": v for k, v in rec.items()}, step[0])
        print(f"[seqgen] epoch {rec['epoch']}: loss {rec['loss']:.4f}, {rec['words_per_s']:,.0f} effective "
              f"words/s, {rec['pairs']:,} examples", flush=True)

    t0 = time.perf_counter()
    model.fit(lines, log=log, log_step=log_step)
    metrics = {"fit_seconds": time.perf_counter() - t0, "vocab": len(model.vocab)}
    if model.config.eval_sets:
        metrics.update(evaluate_word_vectors(model.vocab, model.vectors, Path(spec.data_root).expanduser() / "raw"))
        tracker.log(metrics, step[0])
    tok = WordTokenizer([UNK] + model.vocab, spec.data.word_split, spec.data.lowercase)
    return _save(spec, run_dir, model, tok, model.state(), metrics)


def evaluate_word_vectors(vocab, vectors, raw_root, restrict_vocab: int = 30000) -> dict:
    """Google analogies (3CosAdd, 3CosMul), WordSim-353 and SimLex-999, fetched once from the gensim
    wheel. Without a package index the evaluation is skipped with a warning."""
    from seqgen.data.sources import CATALOG, DataError, fetch_packaged
    from seqgen.evaluation import evaluate_analogies, evaluate_word_pairs, read_analogies

    try:
        files = {n: fetch_packaged(n, CATALOG[n], raw_root) for n in ("questions_words", "wordsim353", "simlex999")}
    except DataError as e:
        warnings.warn(f"word2vec evaluation sets unavailable, skipping them: {e}", stacklevel=2)
        return {}
    qs = read_analogies(files["questions_words"])
    out = {}
    for method in ("add", "mul"):
        r = evaluate_analogies(vocab, vectors, qs, restrict_vocab, method)
        out[f"analogy_{method}"], out["analogy_oov_ratio"] = r["accuracy"], r["oov_ratio"]
    for name in ("wordsim353", "simlex999"):
        r = evaluate_word_pairs(vocab, vectors, files[name])
        out[f"{name}_spearman"], out[f"{name}_oov_ratio"] = r["spearman"], r["oov_ratio"]
    print("[seqgen] " + ", ".join(f"{k} {v:.4f}" for k, v in out.items()), flush=True)
    return out
