"""word2vec beside gensim on wordmix (gensim's settings from ANCHORS.md), same evaluation code for both.

python scripts/bench_word2vec.py                    # skip-gram and CBOW, 5 epochs each (about 5 minutes)
python scripts/bench_word2vec.py --quick            # 20% of the corpus, 1 epoch, both (about a minute)
python scripts/bench_word2vec.py --backend torch    # the PyTorch path instead of the compiled one (CUDA when present)
python scripts/bench_word2vec.py --data FILE --quick --no-gensim --no-eval --backend torch --device cuda   # GPU speed
python scripts/bench_word2vec.py --whole 3          # the whole commands, alternated 3 times: train.py (skip-gram,
                                                    # 2 epochs) beside gensim's whole script (read, vocabulary, train)
Prints the machine first; ends with one JSON line: {"bench": "word2vec", ...}. gensim's words/s from
ANCHORS.md (`gensim.sg.words_s`, `gensim.cbow.words_s`) come from docs/benchmarks.md.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from seqgen.bench import anchors, announce, emit, machine, timeit, versions
from seqgen.families.word2vec.model import Word2Vec
from seqgen.families.word2vec.vectors import evaluate_word_vectors

RAW = Path("data/raw")   # the evaluation sets (downloaded there by seqgen.families.word2vec.vectors)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/wordmix/train.txt")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-gensim", action="store_true")
    ap.add_argument("--only", choices=["sg", "cbow"], default=None)
    ap.add_argument("--backend", choices=["auto", "numba", "torch"], default="auto")
    ap.add_argument("--hs", action="store_true", help="hierarchical softmax (hs=1, negative=0) for both")
    ap.add_argument("--device", default="auto", help="model.device: auto (CUDA when present) | cpu | cuda")
    ap.add_argument("--no-eval", action="store_true", help="speed only: skip the analogy / similarity sets")
    ap.add_argument("--anchors", default=None, help="the anchor table (default: docs/benchmarks.md)")
    ap.add_argument("--whole", type=int, default=0, metavar="N",
                    help="time the whole commands instead, N times each, alternated (see whole())")
    ap.add_argument("--valid", default=None, help="--whole: the valid split (default: valid.txt beside --data)")
    return ap


GENSIM_SCRIPT = """
import sys
from gensim.models import Word2Vec
lines = [ln.split() for ln in open(sys.argv[1], encoding="utf-8") if ln.strip()]
Word2Vec(lines, sg=1, vector_size=100, window=5, negative=5, hs=0, min_count=5, sample=1e-3,
         epochs=int(sys.argv[2]), workers=2, seed=1)
"""


def timed(cmd: list[str]) -> dict:
    """Wall seconds and peak RSS (MB, the child's VmHWM polled every 50 ms: ru_maxrss would carry this
    process's peak across fork + exec) of one command; its output is discarded unless it fails."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0.0]

    def poll():
        while p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    hwm = next((ln for ln in f if ln.startswith("VmHWM")), None)
                if hwm:
                    peak[0] = max(peak[0], int(hwm.split()[1]) / 1024)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, _ = p.communicate()
    secs = time.perf_counter() - t
    watcher.join()
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{out[-2000:]}")
    return {"seconds": round(secs, 2), "peak_rss_mb": round(peak[0]) or None}


def whole(args) -> dict:
    """The whole command a user runs beside gensim's whole script, same corpus, alternated: ours is
    `scripts/train.py model=word2vec ... model.epochs=2` (preparation, reused after the first run as a
    user's second run would; training; the analogy / similarity evaluation at the end, its files fetched
    once), a new run folder each time; gensim's reads the file, builds its vocabulary and trains."""
    train = Path(args.data).resolve()
    valid = Path(args.valid).resolve() if args.valid else train.with_name("valid.txt")
    epochs = 2
    root = Path(__file__).resolve().parents[2]
    res = {"bench": "word2vec_whole", "data": str(train), "epochs": epochs, "ours_runs": [], "gensim_runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.whole):
            cmd = [sys.executable, str(root / "scripts" / "train.py"), "model=word2vec", "data=text_files",
                   f"data.train={train}", f"data.valid={valid}", "data.tokenizer=word", f"model.epochs={epochs}",
                   f"out_root={tmp}", f"run_name=w2v_{i}"]
            res["ours_runs"].append(timed(cmd))
            res["gensim_runs"].append(timed([sys.executable, "-c", GENSIM_SCRIPT, str(train), str(epochs)]))
            print(f"pair {i}: ours {res['ours_runs'][-1]}, gensim {res['gensim_runs'][-1]} (load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
    pairs = zip(res["ours_runs"], res["gensim_runs"])
    res["gensim_over_ours"] = [round(g["seconds"] / o["seconds"], 3) for o, g in pairs]
    return res


def ours(lines, name: str, sg: int, epochs: int, args, hs: int, negative: int, anchor) -> dict:
    """Train our word2vec; like gensim's report: effective (kept) words over training time, vocabulary
    building apart, and per CPU-second (all threads: robust to other jobs on the machine)."""
    m = Word2Vec(Word2Vec.Config(sg=sg, epochs=epochs, backend=args.backend, hs=hs, negative=negative, workers=2,
                                 device=args.device))
    total = timeit(lambda: m.fit(lines), 1).median
    secs = sum(h["seconds"] for h in m.history)
    words = sum(h["words_per_s"] * h["seconds"] for h in m.history)
    cpu = sum(h["cpu_seconds"] for h in m.history)
    ev = {} if args.no_eval else evaluate_word_vectors(m.vocab, m.vectors.cpu(), RAW)
    print(f"{name}: {secs:.1f} s, {words / secs:,.0f} effective words/s (gensim ANCHORS.md: "
          f"{anchor if anchor is None else f'{anchor:,.0f}'}), analogy {ev.get('analogy_add', float('nan')):.4f}",
          flush=True)
    return {f"{name}_seconds": secs, f"{name}_seconds_incl_vocab": total, f"{name}_words_s": words / secs,
            f"{name}_epoch_words_s": [round(h["words_per_s"]) for h in m.history],
            f"{name}_words_per_cpu_s": words / cpu, f"{name}_vocab": len(m.vocab),
            f"{name}_loss_last_epoch": m.history[-1]["loss"], **{f"{name}_{k}": v for k, v in ev.items()}}


def gensim_side(lines, name: str, sg: int, epochs: int, args, hs: int, negative: int, res: dict) -> dict:
    """gensim with the same settings, timed the same way (wall and process CPU seconds of train())."""
    try:
        from gensim.models import Word2Vec as GensimW2V  # lazy: an optional anchor
    except ImportError:
        print("gensim not installed (pip install gensim): skipping the side-by-side run")
        return {}
    gm = GensimW2V(sg=sg, vector_size=100, window=5, hs=hs, negative=negative, min_count=5, sample=1e-3,
                   epochs=epochs, workers=2, seed=1)
    gm.build_vocab(lines)
    t = timeit(lambda: gm.train(lines, total_examples=gm.corpus_count, epochs=epochs), 1)
    trained = t.result[0]
    ge = {} if args.no_eval else evaluate_word_vectors(list(gm.wv.index_to_key), torch.from_numpy(gm.wv.vectors), RAW)
    ratio = res[f"{name}_words_s"] / (trained / t.median)
    cpu_ratio = res[f"{name}_words_per_cpu_s"] / (trained / t.cpu)
    print(f"gensim {name}: {t.median:.1f} s, {trained / t.median:,.0f} effective words/s (ours {ratio:.2f}x); per "
          f"CPU-second {trained / t.cpu:,.0f} (ours {res[f'{name}_words_per_cpu_s']:,.0f}, {cpu_ratio:.2f}x); "
          f"analogy {ge.get('analogy_add', float('nan')):.4f}", flush=True)
    return {f"gensim_{name}_seconds": t.median, f"gensim_{name}_words_s": trained / t.median,
            f"gensim_{name}_words_per_cpu_s": trained / t.cpu, f"{name}_speed_vs_gensim": ratio,
            f"{name}_cpu_efficiency_vs_gensim": cpu_ratio, **{f"gensim_{name}_{k}": v for k, v in ge.items()}}


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    mach = {**machine(), **versions("numba", "gensim")}
    announce(mach)
    if args.whole:
        res = whole(args)
        emit({**res, **mach}, digits=5)
        return res
    lines = [ln.split() for ln in Path(args.data).read_text(encoding="utf-8").split("\n") if ln.strip()]
    if args.quick:
        lines = lines[: len(lines) // 5]
    epochs = 1 if args.quick else 5
    hs, negative = (1, 0) if args.hs else (0, 5)
    res = {"bench": "word2vec", "lines": len(lines), "epochs": epochs, "backend": args.backend, "hs": hs,
           "device": args.device, "negative": negative, "workers": 2}
    anchor = anchors(args.anchors)
    for sg in {"sg": (1,), "cbow": (0,)}.get(args.only, (1, 0)):
        name = "sg" if sg else "cbow"
        res.update(ours(lines, name, sg, epochs, args, hs, negative, anchor.get(f"gensim.{name}.words_s")))
        if not args.no_gensim:
            res.update(gensim_side(lines, name, sg, epochs, args, hs, negative, res))
    emit({**res, **mach}, digits=5)
    return res


if __name__ == "__main__":
    main()
