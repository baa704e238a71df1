"""N-gram benchmark on wordmix with KenLM's conventions, beside KenLM's figures and the kenlm module.

python scripts/bench_ngram.py                      # 3-gram and 5-gram (about 2 minutes)
python scripts/bench_ngram.py --quick              # 3-gram only, no kenlm module (under a minute)
python scripts/bench_ngram.py --data DIR           # another train/valid/test.txt folder
Prints the machine first; ends with one JSON line: {"bench": "ngram", ...}.

Build figures come from a fresh process per order (read train.txt, tokenise, count, estimate), so its
peak RSS is comparable with lmplz's; scoring is timed apart from "load" (the lookup index built from
the tables, and a checkpoint's torch.load), and the compiled scorer is checked against the numpy
reference. KenLM's binary `query` is not installable here: its figures are ANCHORS.md's (measured
on this machine kind, load included), quoted in docs/benchmarks.md (`kenlm.<order>.*`) and read from
there; the `kenlm` Python module runs in this process when installed.
"""

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from seqgen.bench import anchors, announce, emit, machine, run_child, timeit, versions
from seqgen.data.tokenizer import WordTokenizer
from seqgen.families.ngram import kernels
from seqgen.families.ngram.generate import ngram_text
from seqgen.families.ngram.io import from_state, to_state, write_arpa
from seqgen.families.ngram.model import BOS, EOS, NGram, next_log10probs, perplexity


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


def _warm_up(lines, vocab, tok):
    """Compile (or load from numba's cache) every kernel on a tiny model, and run torch's sampler
    once, so that no timing below includes compilation or first-use set-up."""
    with warnings.catch_warnings():               # a tiny corpus leaves discounts undefined: fine here
        warnings.simplefilter("ignore")
        tiny = NGram(NGram.Config(order=3)).fit(lines, vocab)
    perplexity(tiny, lines)
    ngram_text(tiny, tok, "", 3, seed=0)


def _load_seconds(model) -> dict:
    """Seconds to build the lookup index of fitted tables, and to load a checkpoint of them."""
    def index():
        model._index = None
        idx = kernels.index(model)
        return idx.hashes, idx.starts                 # both lookup structures (built lazily)

    index_s = timeit(index, 1).median
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"model": to_state(model)}, Path(tmp) / "m.pt")
        ckpt_s = timeit(lambda: kernels.index(from_state(model.config, torch.load(
            Path(tmp) / "m.pt", weights_only=True)["model"])).hashes, 1).median
    return {"index": index_s, "checkpoint": ckpt_s}


def _generation(model, tok, vocab, test, order, res):
    """20 generated words (a full next-token distribution, then torch's sampler, per word), one
    distribution alone, and 1,000 at once (after a first call: the 660 MB result's first page faults
    would otherwise dominate whichever backend ran first)."""
    ngram_text(model, tok, "", 2, seed=0)
    gen = timeit(lambda: ngram_text(model, tok, "", 20, seed=0), 1)
    res[f"o{order}_generate20_s"] = gen.median
    bos = vocab.index(BOS)
    one = [[bos] + test[0][:2].tolist()]
    res[f"o{order}_next1_ms"] = 1e3 * timeit(lambda: next_log10probs(model, one, backend="numba"), 21).median
    res[f"o{order}_next1_ms_numpy"] = 1e3 * timeit(lambda: next_log10probs(model, one, backend="numpy"), 21).median
    contexts = [[bos] + x[:k].tolist() for x in test[:400] for k in range(3) if k <= len(x)][:1000]
    fast = timeit(lambda: next_log10probs(model, contexts, backend="numba"), 3, warmup=1).median
    ref = timeit(lambda: next_log10probs(model, contexts, backend="numpy"), 3).median
    res.update({f"o{order}_next1000_s": fast, f"o{order}_next1000_s_numpy": ref})
    print(f"  20 generated words in {gen.median * 1e3:.1f} ms: {gen.result!r}; one full "
          f"distribution {res[f'o{order}_next1_ms']:.2f} ms (numpy reference {res[f'o{order}_next1_ms_numpy']:.2f} "
          f"ms), 1,000 at once {fast:.3f} s ({ref:.3f} s)", flush=True)


def kenlm_check(model, test_lines, res):
    """Score our exported ARPA with the kenlm module: its perplexity must reproduce ours; its load and
    its per-line scoring (Python calls) are timed apart."""
    try:
        import kenlm  # lazy: an optional anchor
    except ImportError:
        print("  kenlm module not installed (pip install kenlm): skipping the ARPA cross-check")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.arpa"
        write_arpa(model, path)
        km = timeit(lambda: kenlm.Model(str(path)), 1)
    score = timeit(lambda: sum(km.result.score(ln, bos=True, eos=True) for ln in test_lines), 3)
    n = sum(len(ln.split()) + 1 for ln in test_lines)
    ppl = 10 ** (-score.result / n)
    res.update(kenlm_module_test_ppl=ppl, kenlm_module_vs_ours=ppl / res["o3_test_ppl"] - 1,
               kenlm_module_arpa_load_s=km.median, kenlm_module_test_tok_s=n / score.median,
               o3_test_vs_kenlm_module=res["o3_test_tok_s"] / (n / score.median))
    print(f"  kenlm module on our ARPA: test ppl {ppl:.3f} ({100 * res['kenlm_module_vs_ours']:+.4f}% vs ours); "
          f"ARPA load {km.median:.1f} s, scoring {n / score.median:,.0f} tokens/s "
          f"(ours {res['o3_test_vs_kenlm_module']:.2f}x)", flush=True)


def build_figures(d: Path, order: int, kl: dict, res: dict) -> None:
    b = run_child("ngram", "--data", str(d), "--build-only", str(order))
    res.update({f"o{order}_build_s": b["fit_s"], f"o{order}_build_wall_incl_read_s": b["wall_s"],
                f"o{order}_peak_rss_gb": b["peak_rss_gb"]})
    if "build_s" in kl:
        res[f"o{order}_build_vs_lmplz"] = kl["build_s"] / b["fit_s"]
    print(f"{order}-gram: built in {b['fit_s']:.2f} s ({b['wall_s']:.2f} s with reading and tokenising; lmplz "
          f"{kl.get('build_s')} s), peak RSS {b['peak_rss_gb']:.2f} GB (lmplz {kl.get('rss_gb')} GB)", flush=True)


def score_split(model, lines, order: int, split: str, kl: dict, res: dict) -> None:
    t = timeit(lambda: perplexity(model, lines, backend="numba"), 3)
    ref = timeit(lambda: perplexity(model, lines, backend="numpy"), 1)
    r, tok_s = t.result, t.result["tokens"] / t.median
    same = r["ppl"] / ref.result["ppl"] - 1
    res.update({f"o{order}_{split}_ppl": r["ppl"], f"o{order}_{split}_ppl_excl_oov": r["ppl_excl_oov"],
                f"o{order}_{split}_tok_s": tok_s, f"o{order}_{split}_tok_s_numpy": ref.result["tokens"] / ref.median,
                f"o{order}_{split}_vs_numpy_rel": same})
    anchor = kl.get("query_tok_s")
    if split in kl:
        res[f"o{order}_{split}_vs_kenlm"] = r["ppl"] / kl[split] - 1
    if anchor:
        res[f"o{order}_{split}_vs_kenlm_query"] = tok_s / anchor
    print(f"  {split}: ppl {r['ppl']:.2f} (KenLM {kl.get(split)}), excl. OOV {r['ppl_excl_oov']:.2f}; scoring "
          f"{tok_s:,.0f} tokens/s (KenLM query, ANCHORS.md, load included: {anchor}); numpy reference "
          f"{res[f'o{order}_{split}_tok_s_numpy']:,.0f} tokens/s, ppl {same:+.1e} relative", flush=True)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/wordmix")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-kenlm", action="store_true")
    ap.add_argument("--anchors", default=None, help="the anchor table (default: docs/benchmarks.md)")
    ap.add_argument("--build-only", type=int, default=None, help=argparse.SUPPRESS)
    return ap


def main(argv=None) -> dict | None:
    args = parser().parse_args(argv)
    d = Path(args.data)
    if args.build_only:
        return build_only(d, args.build_only)
    mach = {**machine(), **versions("numba"), "kenlm_module": importlib.util.find_spec("kenlm") is not None}
    announce(mach)
    table = anchors(args.anchors)
    text = {s: read_lines(d / f"{s}.txt") for s in ("train", "valid", "test")}
    tok = WordTokenizer.fit(["\n".join(text["train"])], split="whitespace")  # every training word
    vocab = tok.itos + [BOS, EOS]
    enc = {s: [np.asarray(tok.encode(ln), np.int64) for ln in lines] for s, lines in text.items()}
    res = {"bench": "ngram", "train_tokens": int(sum(len(x) for x in enc["train"])), "vocab": len(vocab)}
    _warm_up(enc["test"][:200], vocab, tok)
    for order in ((3,) if args.quick else (3, 5)):
        kl = {k.split(".", 2)[2]: v for k, v in table.items() if k.startswith(f"kenlm.{order}.")}
        build_figures(d, order, kl, res)
        model = NGram(NGram.Config(order=order)).fit(enc["train"], vocab)
        res[f"o{order}_ngrams"] = int(sum(len(k) for k in model.keys))
        load_s = _load_seconds(model)
        res.update({f"o{order}_index_s": load_s["index"], f"o{order}_checkpoint_load_s": load_s["checkpoint"]})
        print(f"  load: lookup index {load_s['index']:.3f} s; from a checkpoint (torch.load + index) "
              f"{load_s['checkpoint']:.2f} s", flush=True)
        for split in ("valid", "test"):
            score_split(model, enc[split], order, split, kl, res)
        _generation(model, tok, vocab, enc["test"], order, res)
        if order == 3 and not args.no_kenlm and not args.quick:
            kenlm_check(model, text["test"], res)
    emit({**res, **mach}, digits=5)
    return res


if __name__ == "__main__":
    main()
