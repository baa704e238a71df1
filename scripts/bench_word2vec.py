"""word2vec beside gensim on wordmix (gensim's settings from ANCHORS.md), same evaluation code for both.

python scripts/bench_word2vec.py                    # skip-gram and CBOW, 5 epochs each (about 5 minutes)
python scripts/bench_word2vec.py --quick            # 20% of the corpus, 1 epoch, both (about a minute)
python scripts/bench_word2vec.py --backend torch    # the PyTorch path instead of the compiled one (CUDA when present)
python scripts/bench_word2vec.py --data FILE --quick --no-gensim --no-eval --backend torch --device cuda   # GPU speed
Prints the machine first; ends with one JSON line: {"bench": "word2vec", ...}.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from seqgen.core.precision import machine
from seqgen.families.word2vec.model import Word2Vec
from seqgen.families.word2vec.vectors import evaluate_word_vectors

# shared/ANCHORS.md: gensim 4.4.0, 2 workers, on this machine kind (another day, another load)
ANCHOR = {1: {"words_s": 301693, "analogy": 0.0950, "ws353": 0.4624, "simlex": 0.2089},
          0: {"words_s": 917978, "analogy": 0.0791, "ws353": 0.3846, "simlex": 0.1175}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wordmix/train.txt")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-gensim", action="store_true")
    ap.add_argument("--only", choices=["sg", "cbow"], default=None)
    ap.add_argument("--backend", choices=["auto", "numba", "torch"], default="auto")
    ap.add_argument("--hs", action="store_true", help="hierarchical softmax (hs=1, negative=0) for both")
    ap.add_argument("--device", default="auto", help="model.device: auto (CUDA when present) | cpu | cuda")
    ap.add_argument("--no-eval", action="store_true", help="speed only: skip the analogy / similarity sets")
    args = ap.parse_args()
    mach = {**machine(), "numba": _version("numba"), "gensim": _version("gensim")}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()), flush=True)
    lines = [ln.split() for ln in Path(args.data).read_text(encoding="utf-8").split("\n") if ln.strip()]
    if args.quick:
        lines = lines[: len(lines) // 5]
    epochs = 1 if args.quick else 5
    raw = Path("data/raw")
    hs, negative = (1, 0) if args.hs else (0, 5)
    res = {"bench": "word2vec", "lines": len(lines), "epochs": epochs, "backend": args.backend, "hs": hs,
           "device": args.device,
           "negative": negative, "workers": 2}
    models = {"sg": (1,), "cbow": (0,)}.get(args.only, (1, 0))
    for sg in models:
        name = "sg" if sg else "cbow"
        m = Word2Vec(Word2Vec.Config(sg=sg, epochs=epochs, backend=args.backend, hs=hs, negative=negative, workers=2,
                                     device=args.device))
        t = time.perf_counter()
        m.fit(lines)
        total = time.perf_counter() - t
        # like gensim's report: effective (kept) words over training time, vocabulary building apart
        secs = sum(h["seconds"] for h in m.history)
        words = sum(h["words_per_s"] * h["seconds"] for h in m.history)
        cpu = sum(h["cpu_seconds"] for h in m.history)    # all threads: robust to other jobs on the machine
        ours = {} if args.no_eval else evaluate_word_vectors(m.vocab, m.vectors.cpu(), raw)
        res.update({f"{name}_seconds": secs, f"{name}_seconds_incl_vocab": total, f"{name}_words_s": words / secs,
                    f"{name}_epoch_words_s": [round(h["words_per_s"]) for h in m.history],
                    f"{name}_words_per_cpu_s": words / cpu,
                    f"{name}_vocab": len(m.vocab), f"{name}_loss_last_epoch": m.history[-1]["loss"],
                    **{f"{name}_{k}": v for k, v in ours.items()}})
        print(f"{name}: {secs:.1f} s, {words / secs:,.0f} effective words/s (gensim ANCHORS.md: "
              f"{ANCHOR[sg]['words_s']:,}), analogy {ours.get('analogy_add', float('nan')):.4f}", flush=True)
        if args.no_gensim:
            continue
        try:
            from gensim.models import Word2Vec as GensimW2V
        except ImportError:
            print("gensim not installed (pip install gensim): skipping the side-by-side run")
            continue
        gm = GensimW2V(sg=sg, vector_size=100, window=5, hs=hs, negative=negative, min_count=5, sample=1e-3,
                       epochs=epochs, workers=2, seed=1)
        gm.build_vocab(lines)
        t, c = time.perf_counter(), time.process_time()
        trained, _ = gm.train(lines, total_examples=gm.corpus_count, epochs=epochs)
        gsecs, gcpu = time.perf_counter() - t, time.process_time() - c
        ge = {} if args.no_eval else evaluate_word_vectors(list(gm.wv.index_to_key),
                                                           torch.from_numpy(gm.wv.vectors), raw)
        ratio = (words / secs) / (trained / gsecs)
        cpu_ratio = (words / cpu) / (trained / gcpu)
        res.update({f"gensim_{name}_seconds": gsecs, f"gensim_{name}_words_s": trained / gsecs,
                    f"gensim_{name}_words_per_cpu_s": trained / gcpu, f"{name}_speed_vs_gensim": ratio,
                    f"{name}_cpu_efficiency_vs_gensim": cpu_ratio, **{f"gensim_{name}_{k}": v for k, v in ge.items()}})
        print(f"gensim {name}: {gsecs:.1f} s, {trained / gsecs:,.0f} effective words/s (ours {ratio:.2f}x); per "
              f"CPU-second {trained / gcpu:,.0f} (ours {words / cpu:,.0f}, {cpu_ratio:.2f}x); analogy "
              f"{ge.get('analogy_add', float('nan')):.4f}", flush=True)
    print(json.dumps({**{k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}, **mach}))


def _version(module: str):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
