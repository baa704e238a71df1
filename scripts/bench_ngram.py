"""N-gram benchmark on wordmix with KenLM's conventions, beside KenLM's figures and the kenlm module.

python scripts/bench_ngram.py                      # 3-gram and 5-gram (about 2 minutes)
python scripts/bench_ngram.py --quick              # 3-gram only, no kenlm module (under a minute)
python scripts/bench_ngram.py --data DIR           # another train/valid/test.txt folder
Prints the machine first; ends with one JSON line: {"bench": "ngram", ...}.

Build figures come from a fresh process per order (read train.txt, tokenise, count, estimate), so its
peak RSS is comparable with lmplz's; scoring is timed apart from "load" (the lookup index built from
the tables, and a checkpoint's torch.load), and the compiled scorer is checked against the numpy
reference. KenLM's binary `query` is not installable here: its figures are ANCHORS.md's (measured
on this machine kind, load included); the `kenlm` Python module runs in this process when installed.
"""

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from seqgen.data.tokenizer import WordTokenizer
from seqgen.families.ngram.model import BOS, EOS, NGram, next_log10probs, perplexity

# shared/ANCHORS.md: KenLM on the same machine kind (perplexity incl. OOV; lmplz median build seconds,
# its peak RSS; `query` on the binary model, load included, tokens/s)
KENLM = {3: {"valid": 430.78, "test": 471.50, "build_s": 7.35, "rss_gb": 2.36, "query_tok_s": 5.7e6},
         5: {"valid": 418.45, "test": 458.81, "build_s": 7.96, "rss_gb": 1.88, "query_tok_s": (3.3e6, 3.8e6)}}


def read_lines(path):
    return [ln for ln in Path(path).read_text(encoding="utf-8").split("\n") if ln.strip()]


def build_only(data: Path, order: int):
    """The child process: what lmplz does before writing (read, tokenise, count, estimate)."""
    t0 = time.perf_counter()
    lines = read_lines(data / "train.txt")
    tok = WordTokenizer.fit(["\n".join(lines)], split="whitespace")
    enc = [np.asarray(tok.encode(ln), np.int64) for ln in lines]
    del lines
    t = time.perf_counter()
    NGram(NGram.Config(order=order)).fit(enc, tok.itos + [BOS, EOS])
    done = time.perf_counter()
    print(json.dumps({"fit_s": done - t, "wall_s": done - t0, "peak_rss_gb": _peak_rss_gb()}))


def _peak_rss_gb() -> float:
    """This process's peak resident memory in GB of 10**6 kB (as /usr/bin/time's kB / 1e6). Linux:
    VmHWM, the high-water mark of this program alone (ru_maxrss would also count the parent's memory,
    inherited at fork and kept through exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1) / 1e6


def timed(fn, reps=3):
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wordmix")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-kenlm", action="store_true")
    ap.add_argument("--build-only", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    d = Path(args.data)
    if args.build_only:
        return build_only(d, args.build_only)
    from seqgen.core.precision import machine
    from seqgen.families.ngram import kernels

    mach = {**machine(), "numba": _version("numba"), "kenlm_module": importlib.util.find_spec("kenlm") is not None}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()), flush=True)
    text = {s: read_lines(d / f"{s}.txt") for s in ("train", "valid", "test")}
    tok = WordTokenizer.fit(["\n".join(text["train"])], split="whitespace")  # every training word
    vocab = tok.itos + [BOS, EOS]
    enc = {s: [np.asarray(tok.encode(ln), np.int64) for ln in lines] for s, lines in text.items()}
    res = {"bench": "ngram", "train_tokens": int(sum(len(x) for x in enc["train"])), "vocab": len(vocab)}
    _warm_up(enc["test"][:200], vocab, tok)
    for order in ((3,) if args.quick else (3, 5)):
        kl = KENLM[order]
        child = subprocess.run([sys.executable, __file__, "--data", str(d), "--build-only", str(order)],
                               capture_output=True, text=True, check=True)
        b = json.loads(child.stdout.strip().splitlines()[-1])
        res.update({f"o{order}_build_s": b["fit_s"], f"o{order}_build_wall_incl_read_s": b["wall_s"],
                    f"o{order}_build_vs_lmplz": kl["build_s"] / b["fit_s"], f"o{order}_peak_rss_gb": b["peak_rss_gb"]})
        print(f"{order}-gram: built in {b['fit_s']:.2f} s ({b['wall_s']:.2f} s with reading and tokenising; lmplz "
              f"{kl['build_s']} s), peak RSS {b['peak_rss_gb']:.2f} GB (lmplz {kl['rss_gb']} GB)", flush=True)
        model = NGram(NGram.Config(order=order)).fit(enc["train"], vocab)
        res[f"o{order}_ngrams"] = int(sum(len(k) for k in model.keys))
        load_s = _load_seconds(model, kernels)
        res.update({f"o{order}_index_s": load_s["index"], f"o{order}_checkpoint_load_s": load_s["checkpoint"]})
        print(f"  load: lookup index {load_s['index']:.3f} s; from a checkpoint (torch.load + index) "
              f"{load_s['checkpoint']:.2f} s", flush=True)
        for split in ("valid", "test"):
            secs, r = timed(lambda: perplexity(model, enc[split], backend="numba"))
            ref_secs, ref = timed(lambda: perplexity(model, enc[split], backend="numpy"), reps=1)
            tok_s = r["tokens"] / secs
            same = r["ppl"] / ref["ppl"] - 1
            anchor = kl["query_tok_s"] if order == 3 else kl["query_tok_s"][1]
            res.update({f"o{order}_{split}_ppl": r["ppl"], f"o{order}_{split}_ppl_excl_oov": r["ppl_excl_oov"],
                        f"o{order}_{split}_vs_kenlm": r["ppl"] / kl[split] - 1, f"o{order}_{split}_tok_s": tok_s,
                        f"o{order}_{split}_tok_s_numpy": ref["tokens"] / ref_secs,
                        f"o{order}_{split}_vs_numpy_rel": same, f"o{order}_{split}_vs_kenlm_query": tok_s / anchor})
            print(f"  {split}: ppl {r['ppl']:.2f} (KenLM {kl[split]}), excl. OOV {r['ppl_excl_oov']:.2f}; scoring "
                  f"{tok_s:,.0f} tokens/s = {tok_s / anchor:.2f}x KenLM query's {anchor:,.0f} (ANCHORS.md, load "
                  f"included); numpy reference {ref['tokens'] / ref_secs:,.0f} tokens/s, ppl {same:+.1e} relative",
                  flush=True)
        _generation(model, tok, vocab, enc["test"], order, res)
        if order == 3 and not args.no_kenlm and not args.quick:
            kenlm_check(model, text["test"], res)
    print(json.dumps({**{k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}, **mach}))


def _warm_up(lines, vocab, tok):
    """Compile (or load from numba's cache) every kernel on a tiny model, and run torch's sampler
    once, so that no timing below includes compilation or first-use set-up."""
    from seqgen.families.ngram.generate import ngram_text

    with warnings.catch_warnings():               # a tiny corpus leaves discounts undefined: fine here
        warnings.simplefilter("ignore")
        tiny = NGram(NGram.Config(order=3)).fit(lines, vocab)
    perplexity(tiny, lines)
    ngram_text(tiny, tok, "", 3, seed=0)


def _load_seconds(model, kernels) -> dict:
    """Seconds to build the lookup index of fitted tables, and to load a checkpoint of them."""
    import torch

    from seqgen.families.ngram.io import from_state, to_state

    model._index = None
    t = time.perf_counter()
    idx = kernels.index(model)
    _ = idx.hashes, idx.starts                       # both lookup structures (built lazily)
    index_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"model": to_state(model)}, Path(tmp) / "m.pt")
        t = time.perf_counter()
        back = from_state(model.config, torch.load(Path(tmp) / "m.pt", weights_only=True)["model"])
        kernels.index(back).hashes
        ckpt_s = time.perf_counter() - t
    return {"index": index_s, "checkpoint": ckpt_s}


def _generation(model, tok, vocab, test, order, res):
    """20 generated words (a full next-token distribution, then torch's sampler, per word), one
    distribution alone, and 1,000 at once (after a first call: the 660 MB result's first page faults
    would otherwise dominate whichever backend ran first)."""
    from seqgen.families.ngram.generate import ngram_text

    ngram_text(model, tok, "", 2, seed=0)
    t = time.perf_counter()
    sample = ngram_text(model, tok, "", 20, seed=0)
    res[f"o{order}_generate20_s"] = time.perf_counter() - t
    bos = vocab.index(BOS)
    one = [[bos] + test[0][:2].tolist()]
    res[f"o{order}_next1_ms"] = 1e3 * timed(lambda: next_log10probs(model, one, backend="numba"), reps=21)[0]
    res[f"o{order}_next1_ms_numpy"] = 1e3 * timed(lambda: next_log10probs(model, one, backend="numpy"), reps=21)[0]
    contexts = [[bos] + x[:k].tolist() for x in test[:400] for k in range(3) if k <= len(x)][:1000]
    next_log10probs(model, contexts, backend="numba")
    fast, _ = timed(lambda: next_log10probs(model, contexts, backend="numba"))
    ref, _ = timed(lambda: next_log10probs(model, contexts, backend="numpy"))
    res.update({f"o{order}_next1000_s": fast, f"o{order}_next1000_s_numpy": ref})
    print(f"  20 generated words in {res[f'o{order}_generate20_s'] * 1e3:.1f} ms: {sample!r}; one full "
          f"distribution {res[f'o{order}_next1_ms']:.2f} ms (numpy reference {res[f'o{order}_next1_ms_numpy']:.2f} "
          f"ms), 1,000 at once {fast:.3f} s ({ref:.3f} s)", flush=True)


def kenlm_check(model, test_lines, res):
    """Score our exported ARPA with the kenlm module: its perplexity must reproduce ours; its load and
    its per-line scoring (Python calls) are timed apart."""
    try:
        import kenlm
    except ImportError:
        print("  kenlm module not installed (pip install kenlm): skipping the ARPA cross-check")
        return
    from seqgen.families.ngram.io import write_arpa

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.arpa"
        write_arpa(model, path)
        t = time.perf_counter()
        km = kenlm.Model(str(path))
        load = time.perf_counter() - t
    secs, total = timed(lambda: sum(km.score(ln, bos=True, eos=True) for ln in test_lines))
    n = sum(len(ln.split()) + 1 for ln in test_lines)
    ppl = 10 ** (-total / n)
    res.update(kenlm_module_test_ppl=ppl, kenlm_module_vs_ours=ppl / res["o3_test_ppl"] - 1,
               kenlm_module_arpa_load_s=load, kenlm_module_test_tok_s=n / secs,
               o3_test_vs_kenlm_module=res["o3_test_tok_s"] / (n / secs))
    print(f"  kenlm module on our ARPA: test ppl {ppl:.3f} ({100 * res['kenlm_module_vs_ours']:+.4f}% vs ours); "
          f"ARPA load {load:.1f} s, scoring {n / secs:,.0f} tokens/s (ours {res['o3_test_vs_kenlm_module']:.2f}x)",
          flush=True)


def _version(module: str):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
