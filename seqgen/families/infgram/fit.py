"""Fitting an ∞-gram: index the prepared train token file (suffix array, sharded), report its size,
speed and the held-out figures of evaluate.py."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from seqgen.core.errors import CheckpointError
from seqgen.core.training import RunContext, save_fitted
from seqgen.data.prepare import data_identity, prepare
from seqgen.data.tokenizer import Tokenizer
from seqgen.families.infgram.engine import Engine
from seqgen.families.infgram.evaluate import split_figures
from seqgen.families.infgram.index import build
from seqgen.families.infgram.model import InfGram, boundary_id, index_dir


def fit(ctx: RunContext) -> dict:
    spec = ctx.spec
    data = prepare(spec.data, spec.data_root)
    tok = data.tokenizer
    model = InfGram(replace(spec.model, vocab_size=tok.vocab_size))
    cfg = model.config
    train = data.tokens("train")
    out = ctx.run_dir / "index"
    t0 = time.perf_counter()
    meta = build(train, out, tok.vocab_size, boundary_id(tok, cfg.documents), cfg.shard_tokens)
    seconds = time.perf_counter() - t0
    tok.save(out / "tokenizer.json")
    model.engine = Engine(out)
    size = sum(p.stat().st_size for p in out.glob("*.bin"))
    metrics = {"build_seconds": seconds, "build_tokens_per_s": len(train) / max(seconds, 1e-9),
               "index_bytes": size, "index_bytes_per_token": size / max(1, len(train)),
               "tokens": len(train), "documents": model.engine.num_docs, "shards": len(meta["shards"])}
    print(f"[seqgen] infgram index: {len(train):,} tokens, {metrics['documents']:,} documents, "
          f"{len(meta['shards'])} shard(s), {metrics['index_bytes_per_token']:.2f} bytes/token, built in "
          f"{seconds:.1f} s ({metrics['build_tokens_per_s'] / 1e6:.2f}M tokens/s) -> {out}", flush=True)

    for split, prefix in (("valid", "val"), ("test", "test")):
        if data.meta["tokens"].get(split):
            r = split_figures(model, data.tokens(split)[:50_000], agreement_tokens=2000)
            metrics.update({f"{prefix}/{k}": v for k, v in r.items()})
            print(f"[seqgen] {split} (first 50k tokens): next token seen after the longest suffix "
                  f"{r['nonzero_frac']:.3f}, argmax agreement {r['agreement']:.3f}, mean effective n "
                  f"{r['effective_n_mean']:.2f}", flush=True)
    ctx.tracker.log(metrics, 0)
    state = {"index_dir": str(out.resolve()), "source_tokens": int(meta["source_tokens"]),
             "shard_tokens": [s["tokens"] for s in meta["shards"]]}
    return save_fitted(ctx, model, state, metrics, tokenizer=tok,
                       data_identity=json.dumps(data_identity(spec.data)))   # evaluate.py may trust its paths


def load(state: dict, device):
    """(InfGram with an open engine, tokenizer) from a checkpoint."""
    model = InfGram(InfGram.Config(**state["model_config"]))
    model.engine = Engine(index_dir(state))
    got = [len(s.tok) for s in model.engine.shards]
    if got != list(state["model"].get("shard_tokens", got)):
        raise CheckpointError(f"the index in {model.engine.folder} ({got} tokens per shard) is not the one this "
                              f"checkpoint was fitted with ({state['model']['shard_tokens']}): refit")
    return model, Tokenizer.from_json(state["tokenizer"])
