"""word2vec beside gensim on wordmix (gensim's settings from ANCHORS.md), same evaluation code for both.

python scripts/bench_word2vec.py            # skip-gram and CBOW, 5 epochs each (about 5 minutes)
python scripts/bench_word2vec.py --quick    # 20% of the corpus, 1 epoch, skip-gram only
Ends with one JSON line: {"bench": "word2vec", ...}.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from seqgen.families.word2vec.model import Word2Vec
from seqgen.families.word2vec.vectors import evaluate_word_vectors

ANCHOR = {1: {"words_s": 301693, "analogy": 0.0950, "ws353": 0.4624, "simlex": 0.2089},
          0: {"words_s": 917978, "analogy": 0.0791, "ws353": 0.3846, "simlex": 0.1175}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wordmix/train.txt")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-gensim", action="store_true")
    ap.add_argument("--only", choices=["sg", "cbow"], default=None)
    args = ap.parse_args()
    lines = [ln.split() for ln in Path(args.data).read_text(encoding="utf-8").split("\n") if ln.strip()]
    if args.quick:
        lines = lines[: len(lines) // 5]
    epochs = 1 if args.quick else 5
    raw = Path("data/raw")
    res = {"bench": "word2vec", "lines": len(lines), "epochs": epochs}
    models = (1,) if args.quick else (1, 0)
    if args.only:
        models = (1,) if args.only == "sg" else (0,)
    for sg in models:
        name = "sg" if sg else "cbow"
        m = Word2Vec(Word2Vec.Config(sg=sg, epochs=epochs))
        t = time.perf_counter()
        m.fit(lines)
        total = time.perf_counter() - t
        # like gensim's report: effective (kept) words over training time, vocabulary building apart
        secs = sum(h["seconds"] for h in m.history)
        words = sum(h["words_per_s"] * h["seconds"] for h in m.history)
        ours = evaluate_word_vectors(m.vocab, m.vectors, raw)
        res.update({f"{name}_seconds": secs, f"{name}_seconds_incl_vocab": total, f"{name}_words_s": words / secs,
                    f"{name}_vocab": len(m.vocab),
                    f"{name}_loss_last_epoch": m.history[-1]["loss"],
                    **{f"{name}_{k}": v for k, v in ours.items()}})
        print(f"{name}: {secs:.1f} s, {words / secs:,.0f} effective words/s "
              f"(gensim ANCHORS: {ANCHOR[sg]['words_s']:,}), analogy {ours.get('analogy_add', float('nan')):.4f}",
              flush=True)
        if not args.no_gensim:
            try:
                from gensim.models import Word2Vec as GensimW2V
            except ImportError:
                print("gensim not installed: skipping the side-by-side run")
                continue
            gm = GensimW2V(sg=sg, vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                           epochs=epochs, workers=2, seed=1)
            gm.build_vocab(lines)
            t = time.perf_counter()
            trained, _ = gm.train(lines, total_examples=gm.corpus_count, epochs=epochs)
            gsecs = time.perf_counter() - t
            ge = evaluate_word_vectors(list(gm.wv.index_to_key), torch.from_numpy(gm.wv.vectors), raw)
            res.update({f"gensim_{name}_seconds": gsecs, f"gensim_{name}_words_s": trained / gsecs,
                        f"{name}_speed_vs_gensim": (words / secs) / (trained / gsecs),
                        **{f"gensim_{name}_{k}": v for k, v in ge.items()}})
            print(f"gensim {name}: {gsecs:.1f} s, {trained / gsecs:,.0f} effective words/s (ours "
                  f"{(words / secs) / (trained / gsecs):.2f}x), analogy {ge.get('analogy_add', float('nan')):.4f}",
                  flush=True)
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}))


if __name__ == "__main__":
    main()
