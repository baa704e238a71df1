"""evaluate.py's two ∞-gram audits of a text model (GPT), given an infgram checkpoint or index folder:

copy_index=<infgram>   memorisation audit: the model's samples, each token's longest span found verbatim
                       in the training corpus, beside the same figure for held-out human text.
kn=<ngram>             the GPT + (Kneser-Ney) n-gram hybrid beside it, one λ tuned on valid.
infgram=<infgram>      the hybrid of Liu et al. 2024: p = λ p_∞ + (1 - λ) p_model, λ one number per
                       (effective n, sparse) bucket of the ∞-gram estimate, tuned on the valid split by
                       grid search, reported on the evaluated split: perplexity and bits per byte.
Both live in the app layer because they join two families (the model's and infgram).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqgen import families
from seqgen.app.load import load_model
from seqgen.app.sample import SampleConfig
from seqgen.core.errors import ConfigError
from seqgen.data.prepare import pick_split, prepare
from seqgen.data.sources import load_splits
from seqgen.data.text import eval_windows
from seqgen.data.tokenizer import Tokenizer
from seqgen.families.base import split_args
from seqgen.families.infgram import load_engine
from seqgen.families.infgram.generate import copy_report
from seqgen.families.ngram.model import NGram, score_lines
from seqgen.nn.sampling import eval_mode

BUCKETS = (0, 1, 2, 3, 4, 6, 8, 12, 16)    # lower edges of the effective-n buckets (suffix_len + 1)
GRID = np.linspace(0.0, 0.99, 100)


def _engine_and_tokenizer(path):
    eng = load_engine(path)
    tok_file = Path(eng.folder) / "tokenizer.json"
    return eng, (Tokenizer.load(tok_file) if tok_file.is_file() else None)


def _split_text(state, ec, split):
    dc = families.get(state["model_name"]).data_of(state, ec.ckpt)
    return load_splits(dc, Path(ec.data_root).expanduser() / "raw").get(split, "")


def copy_audit(fam, model, tokenizer, state, ec, device, samples: int = 4, tokens: int = 256) -> dict:
    """Copy rate of `samples` seeded samples of `tokens` tokens, and of held-out text of the same length."""
    eng, itok = _engine_and_tokenizer(ec.copy_index)
    if itok is None:
        raise ConfigError(f"copy_index={ec.copy_index}: the index folder has no tokenizer.json to encode text with")
    with tempfile.TemporaryDirectory() as tmp:
        sc, args = split_args({"ckpt": ec.ckpt, "num_samples": samples, "max_new_tokens": tokens, "seed": ec.seed,
                               "out": str(Path(tmp) / "s.txt"), "device": str(device)}, SampleConfig,
                              fam.SampleArgs, where=f"sample.py with a {fam.name} checkpoint")
        texts = fam.sample(model, tokenizer, state, sc, args, device)["texts"]
    out = {}
    gen = copy_report(eng, np.concatenate([itok.encode(t) for t in texts]).astype(np.int64))
    out.update({f"copy/samples_{k}": v for k, v in gen.items()})
    held = _split_text(state, ec, "test") or _split_text(state, ec, "valid")
    if held:
        ids = np.asarray(itok.encode(held[: 20 * sum(len(t) for t in texts)]), np.int64)[: gen["tokens"]]
        out.update({f"copy/heldout_{k}": v for k, v in copy_report(eng, ids).items()})
    return out


@torch.no_grad()
def model_logprobs(model, tokens: np.ndarray, block_size: int, batch_size: int, device) -> np.ndarray:
    """(n - 1,) natural-log p(tokens[i + 1] | the window's prefix), the windows the GPT's evaluate uses."""
    out = []
    with eval_mode(model):
        for x, y in eval_windows(tokens, block_size, batch_size):
            logp = F.log_softmax(model(x.to(device)).float(), dim=-1)          # (B, T, V)
            got = logp.gather(-1, y.clamp(min=0).to(device)[..., None])[..., 0]
            out.append(got[y.to(device) >= 0].double().cpu().numpy())          # windows in order
    return np.concatenate(out) if out else np.zeros(0)


def _bucket(suffix_len: np.ndarray, sparse: np.ndarray) -> np.ndarray:
    eff = suffix_len + 1
    return (np.searchsorted(BUCKETS, eff, side="right") - 1) * 2 + sparse.astype(np.int64)


def _streams(model, eng, tokens, ec, device, max_tokens):
    toks = np.asarray(tokens[: (max_tokens + 1) if max_tokens else None], np.int64)
    lp = model_logprobs(model, toks, model.config.block_size, ec.batch_size, device)
    ids = np.concatenate([[eng.eos_token_id], toks]) if eng.eos_token_id is not None else toks
    r = eng.score(ids)
    off = 1 if eng.eos_token_id is not None else 0    # score j predicts ids[j + 1]; toks[1:] are targets
    sl = slice(off, off + len(lp))
    return lp, r["prob"][sl], _bucket(r["suffix_len"][sl], r["sparse"][sl])


def tune(lp: np.ndarray, p_inf: np.ndarray, bucket: np.ndarray) -> dict:
    """λ per bucket maximising the valid log-likelihood of λ p_∞ + (1 - λ) p_model (each bucket alone)."""
    p = np.exp(lp)
    lam = {}
    for b in np.unique(bucket):
        m = bucket == b
        ll = [np.log(g * p_inf[m] + (1 - g) * p[m]).sum() for g in GRID]
        lam[int(b)] = float(GRID[int(np.argmax(ll))])
    return lam


def hybrid(model, tokenizer, state, ec, device, max_tokens=None) -> dict:
    """GPT alone and GPT + ∞-gram on the evaluated split, λ tuned on valid."""
    eng, itok = _engine_and_tokenizer(ec.infgram)
    if itok is not None and json.dumps(itok.to_json(), sort_keys=True) != json.dumps(tokenizer.to_json(),
                                                                                      sort_keys=True):
        raise ConfigError(f"infgram={ec.infgram} was indexed with another tokenizer than {ec.ckpt}: the hybrid "
                          f"mixes next-token probabilities id by id, so index the model's own data")
    if not hasattr(model.config, "block_size"):
        raise ConfigError(f"infgram=: the {state['model_name']} checkpoint is not a token language model")
    dc = families.get(state["model_name"]).data_of(state, ec.ckpt)
    data = prepare(dc, ec.data_root, verbose=False)
    avail = [s for s, n in data.meta["tokens"].items() if n]
    if "valid" not in avail:
        raise ConfigError("infgram=: the hybrid tunes λ on the valid split; this dataset has none")
    split = pick_split(avail, ec.split, ec.ckpt)
    lam = tune(*_streams(model, eng, data.tokens("valid"), ec, device, max_tokens))
    lp, p_inf, bucket = _streams(model, eng, data.tokens(split), ec, device, max_tokens)
    g = np.array([lam.get(int(b), 0.0) for b in bucket])
    mix = np.log(g * p_inf + (1 - g) * np.exp(lp))
    n = len(lp)
    text = _split_text(state, ec, split)
    nbytes = len(text.encode("utf-8")) * n / max(1, data.meta["tokens"][split] - 1)   # the scored share
    out = {"hybrid/split": split, "hybrid/tokens": n, "hybrid/model_ppl": math.exp(-lp.mean()),
           "hybrid/ppl": math.exp(-mix.mean()), "hybrid/model_bits_per_byte": -lp.sum() / math.log(2) / nbytes,
           "hybrid/bits_per_byte": -mix.sum() / math.log(2) / nbytes,
           "hybrid/lambda": {f"n>={BUCKETS[b // 2]}{'_sparse' if b % 2 else ''}": v for b, v in sorted(lam.items())},
           "hybrid/infgram_nonzero": float((p_inf > 0).mean())}
    out["hybrid/ppl_reduction"] = 1 - out["hybrid/ppl"] / out["hybrid/model_ppl"]
    return out


def ngram_stream_logprobs(ngram, tokens: np.ndarray, newline: int) -> np.ndarray:
    """(n - 1,) natural-log p of tokens[1:] under an n-gram checkpoint sharing the tokenizer: the stream
    cut into lines at the newline id, each line scored with <s> ... </s> (KenLM's rule), </s> standing
    for the newline token; a final line without its newline loses its </s>."""
    toks = np.asarray(tokens, np.int64)
    cuts = np.flatnonzero(toks == newline)
    lines = np.split(toks, cuts)
    lines = [lines[0]] + [ln[1:] for ln in lines[1:]]        # drop the newline that opens each piece
    lp = np.asarray(score_lines(ngram, lines), np.float64) * math.log(10)   # words + </s>, line by line
    # the last piece's </s> is not in the stream (an empty piece when the stream ends with a newline)
    return lp[1:-1]                                           # and tokens[0] is never predicted


def kn_hybrid(model, tokenizer, state, ec, device, max_tokens=None) -> dict:
    """GPT + a (KN) n-gram checkpoint, one λ tuned on valid: the baseline the paper sets the ∞-gram beside."""
    ngram, ntok, _ = load_model(ec.kn)
    if not isinstance(ngram, NGram) or ntok is None or ntok.to_json() != tokenizer.to_json():
        raise ConfigError(f"kn={ec.kn} must be an n-gram checkpoint fitted with the same tokenizer as {ec.ckpt}")
    nl = tokenizer.encode("\n")
    if len(nl) != 1:
        raise ConfigError("kn=: the tokenizer has no newline token, so lines cannot be cut for the n-gram")
    dc = families.get(state["model_name"]).data_of(state, ec.ckpt)
    data = prepare(dc, ec.data_root, verbose=False)
    split = pick_split([s for s, n in data.meta["tokens"].items() if n], ec.split, ec.ckpt)

    def streams(name):
        toks = np.asarray(data.tokens(name)[: (max_tokens + 1) if max_tokens else None], np.int64)
        return (model_logprobs(model, toks, model.config.block_size, ec.batch_size, device),
                ngram_stream_logprobs(ngram, toks, nl[0]))

    lp, lk = streams("valid")
    ll = [np.logaddexp(np.log(g) + lk, np.log1p(-g) + lp).sum() if g > 0 else lp.sum() for g in GRID]
    lam = float(GRID[int(np.argmax(ll))])
    lp, lk = streams(split)
    mix = np.logaddexp(np.log(lam) + lk, np.log1p(-lam) + lp) if lam > 0 else lp
    return {"kn_hybrid/order": ngram.config.order, "kn_hybrid/lambda": lam, "kn_hybrid/ngram_ppl": math.exp(-lk.mean()),
            "kn_hybrid/ppl": math.exp(-mix.mean()), "kn_hybrid/ppl_reduction": 1 - math.exp(lp.mean() - mix.mean())}
