"""An n-gram on held-out text: per-token perplexity in KenLM's conventions over the model's sentences
(what train.py prints), bits per character over every line (one </s> per newline), comparable with a GPT's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import key
from seqgen.data.prepare import DataConfig, pick_split, prepare
from seqgen.data.sources import load_splits, text_lines
from seqgen.families.base import checkpoint_data, data_from
from seqgen.families.ngram.model import perplexity


@dataclass
class EvalArgs:
    max_tokens: int | None = key(None, ge=1)   # score only a prefix of the split of about this many tokens


def ngram_scores(model, sentences: list, every, chars: int) -> dict:
    """The figures of ngram_text_scores from token ids: `sentences` the ids of the lines the model takes
    as sentences, `every` those of every line (None: the same lines), `chars` the characters of every
    line plus one newline each. fit.py calls it with a prepared split's ids and line index."""
    blank = every is None
    r = perplexity(model, sentences)
    whole = r if blank else perplexity(model, every)
    out = {"ppl": r["ppl"], "ppl_excl_oov": r["ppl_excl_oov"], "bits_per_token": r["bits_per_token"],
           "tokens": r["tokens"], "oov": r["oov"], "lines": "every line" if blank else "non-empty lines (KenLM)",
           "bpc": -whole["log10_sum"] * math.log2(10) / max(chars, 1), "chars": chars}
    if not blank:
        out["ppl_every_line"] = whole["ppl"]
    return out


def ngram_text_scores(model, tokenizer, text: str) -> dict:
    """One definition, shared by train.py (fit.py) and evaluate.py, so one checkpoint reports one figure.

    `ppl` (and `ppl_excl_oov`, `tokens`, `oov`, `bits_per_token`): KenLM's `query` over the lines the
    model takes as sentences - the non-empty ones, or with `model.blank_lines=true` every line.
    `bpc`: bits per character of the whole text, every line coded (one </s> per newline), comparable
    with a GPT's; where the model skips blank lines, `ppl_every_line` names the per-token perplexity of
    that whole-text coding (the ladder's n-grams set blank_lines=true, so there the two are one)."""
    blank = bool(getattr(model.config, "blank_lines", False))
    every = text_lines(text)
    ids = [np.asarray(tokenizer.encode(ln), np.int64) for ln in every]
    sentences = ids if blank else [x for x, ln in zip(ids, every) if ln.strip()]
    return ngram_scores(model, sentences, None if blank else ids, sum(len(ln) + 1 for ln in every))


def evaluate(model, tokenizer, state, ec, args: EvalArgs, device) -> dict:
    """evaluate.py for an n-gram: the split's raw text, found from the checkpoint's data config."""
    given = (state.get("config") or {}).get("data") or {}
    if not given.get("name"):   # an ARPA-imported checkpoint: score the file given as data.test= / data.valid=
        return _score_file(model, tokenizer, state, ec, args, given)
    dc = data_from(DataConfig, state, ec.ckpt)
    data = prepare(dc, ec.data_root, verbose=False)
    split = pick_split([s for s, n in data.meta["tokens"].items() if n], ec.split, ec.ckpt)
    text = load_splits(dc, Path(ec.data_root).expanduser() / "raw")[split]
    if args.max_tokens:   # a prefix of the split, cut at a line end
        text = text[: text.rfind("\n", 0, int(args.max_tokens * data.chars_per_token(split))) + 1]
    out = {"model": state["model_name"], "data": dc.name, "tokenizer": dc.tokenizer, "split": split,
           **ngram_text_scores(model, tokenizer, text)}
    if dc.tokenizer != "word":   # per-character perplexity is not a word-level figure
        for k in ("ppl", "ppl_every_line"):
            out.pop(k, None)
    return out


def _score_file(model, tokenizer, state, ec, args: EvalArgs, given: dict) -> dict:
    """A checkpoint with no data config (imported from ARPA): the text of data.test= (or data.valid=)."""
    files = {s: given[s] for s in ("test", "valid") if given.get(s)}
    if not files:
        checkpoint_data(state, ec.ckpt)   # raises: says what to give
    split = ec.split if ec.split in files else ("test" if "test" in files else "valid")
    if ec.split not in ("auto", split):
        raise ConfigError(f"split={ec.split}: give data.{ec.split}=FILE for a checkpoint without a data config")
    path = Path(str(files[split])).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"data.{split}={path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataError(f"data.{split}={path}: cannot read it ({e.strerror})") from None
    if args.max_tokens:   # a prefix of whole lines of about max_tokens tokens
        kept, n = [], 0
        for ln in text_lines(text):
            if n >= args.max_tokens:
                break
            kept.append(ln)
            n += len(tokenizer.encode(ln)) + 1
        text = "".join(ln + "\n" for ln in kept)
    out = {"model": state["model_name"], "data": str(path), "tokenizer": tokenizer.kind, "split": split,
           **ngram_text_scores(model, tokenizer, text)}
    if tokenizer.kind != "word":
        out.pop("ppl")
    return out
