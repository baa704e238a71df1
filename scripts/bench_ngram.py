"""N-gram benchmark on wordmix with KenLM's conventions, beside KenLM's figures and the kenlm module.

python scripts/bench_ngram.py                      # 3-gram and 5-gram (about 2 minutes)
python scripts/bench_ngram.py --quick              # 3-gram only
python scripts/bench_ngram.py --data DIR           # another train/valid/test.txt folder
Ends with one JSON line: {"bench": "ngram", ...}.
"""

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from seqgen.data.tokenizer import WordTokenizer
from seqgen.families.ngram.model import BOS, EOS, NGram, perplexity

# shared/ANCHORS.md: KenLM lmplz on the same machine kind (perplexity incl. OOV; median build seconds)
KENLM = {3: {"valid": 430.78, "test": 471.50, "build_s": 7.35, "rss_gb": 2.36},
         5: {"valid": 418.45, "test": 458.81, "build_s": 7.96, "rss_gb": 1.88}}


def read_lines(path):
    return [ln for ln in Path(path).read_text(encoding="utf-8").split("\n") if ln.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wordmix")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-kenlm", action="store_true")
    args = ap.parse_args()
    d = Path(args.data)
    text = {s: read_lines(d / f"{s}.txt") for s in ("train", "valid", "test")}
    tok = WordTokenizer.fit(["\n".join(text["train"])], split="whitespace")  # every training word
    vocab = tok.itos + [BOS, EOS]
    enc = {s: [np.asarray(tok.encode(ln), np.int64) for ln in lines] for s, lines in text.items()}
    res = {"bench": "ngram", "train_tokens": int(sum(len(x) for x in enc["train"])), "vocab": len(vocab)}
    for order in ((3,) if args.quick else (3, 5)):
        t = time.perf_counter()
        model = NGram(NGram.Config(order=order)).fit(enc["train"], vocab)
        build = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (process peak so far)
        res.update({f"o{order}_build_s": build, f"o{order}_build_vs_kenlm": KENLM[order]["build_s"] / build,
                    f"o{order}_peak_rss_gb": rss, f"o{order}_ngrams": int(sum(len(k) for k in model.keys))})
        print(f"{order}-gram: built in {build:.2f} s (KenLM lmplz {KENLM[order]['build_s']} s), "
              f"process peak RSS {rss:.2f} GB", flush=True)
        for split in ("valid", "test"):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                r = perplexity(model, enc[split])
                times.append(time.perf_counter() - t)
            rel = r["ppl"] / KENLM[order][split] - 1
            res.update({f"o{order}_{split}_ppl": r["ppl"], f"o{order}_{split}_ppl_excl_oov": r["ppl_excl_oov"],
                        f"o{order}_{split}_vs_kenlm": rel,
                        f"o{order}_{split}_tok_s": r["tokens"] / statistics.median(times)})
            print(f"  {split}: ppl {r['ppl']:.2f} (KenLM {KENLM[order][split]}, {100 * rel:+.3f}%), excl. OOV "
                  f"{r['ppl_excl_oov']:.2f}; scoring {r['tokens'] / statistics.median(times):,.0f} tokens/s",
                  flush=True)
        from seqgen.families.ngram.generate import ngram_text

        t = time.perf_counter()
        sample = ngram_text(model, tok, "", 20, seed=0)
        res[f"o{order}_generate20_s"] = time.perf_counter() - t
        print(f"  20 generated words in {res[f'o{order}_generate20_s'] * 1e3:.1f} ms: {sample!r}", flush=True)
        if order == 3 and not args.no_kenlm:
            kenlm_check(model, text["test"], res)
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}))


def kenlm_check(model, test_lines, res):
    """Score our exported ARPA with the kenlm module: its perplexity must reproduce ours."""
    try:
        import kenlm
    except ImportError:
        print("  kenlm module not installed (pip install kenlm): skipping the ARPA cross-check")
        return
    from seqgen.families.ngram.io import write_arpa

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.arpa"
        write_arpa(model, path)
        km = kenlm.Model(str(path))
    total = sum(km.score(ln, bos=True, eos=True) for ln in test_lines)
    n = sum(len(ln.split()) + 1 for ln in test_lines)
    ppl = 10 ** (-total / n)
    res.update(kenlm_module_test_ppl=ppl, kenlm_module_vs_ours=ppl / res["o3_test_ppl"] - 1)
    print(f"  kenlm module on our ARPA: test ppl {ppl:.3f} ({100 * res['kenlm_module_vs_ours']:+.4f}% vs ours)",
          flush=True)


if __name__ == "__main__":
    main()
