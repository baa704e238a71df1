"""Preparing a big corpus: peak RSS and throughput of streaming preparation (char / word / BPE), BPE
encoding beside the `tokenizers` library's own encode_batch on the same text, the pre-streaming code
path's peak RSS on a small slice, and the n-gram count in a memory budget beside the in-memory one.

python scripts/bench_data.py --size 250M          # a 0.25 GB generated corpus (a few minutes)
python scripts/bench_data.py --quick              # 10 MB (about a minute on an idle machine)
python scripts/bench_data.py --size 1G --old-path ""   # bigger sizes: not measured on the 2-core machine
The corpus is generated, never downloaded or committed: a word bigram chain fitted on wordmix's train
split (--source) and sampled in 100k parallel chains, so word and line statistics are realistic.
Prints the machine first; ends with one JSON line: {"bench": "data", ...}. The measured children run
as `python -c` code, so that the pre-streaming checkout (--old-path) runs the same measurement.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seqgen.bench import announce, emit, machine, timeit
from seqgen.core.sizes import parse_size

ROOT = Path(__file__).resolve().parents[2]


def generate(source: Path, out: Path, size: int, seed: int = 0) -> dict:
    """A corpus of `size` bytes from the bigram chain of source's words (</s> ends a line)."""
    words, ids = {}, []
    for line in source.read_text(encoding="utf-8").split("\n"):
        toks = line.split()
        if toks:
            ids += [words.setdefault(w, len(words) + 1) for w in toks] + [0]   # 0: end of line / start
    table = [b"\n"] + [w.encode("utf-8") + b" " for w in words]   # each word's bytes, a space after
    lens = np.array([len(b) for b in table], np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
    blob = np.frombuffer(b"".join(table), np.uint8)
    prev, nxt = np.array([0] + ids[:-1]), np.array(ids)
    order = np.lexsort((nxt, prev))                          # transitions grouped by previous word
    prev, nxt = prev[order], nxt[order]
    start = np.searchsorted(prev, np.arange(len(table) + 1))
    rng = np.random.default_rng(seed)
    chains, steps = 100_000, 40
    cur = np.zeros(chains, np.int64)
    written = 0
    with open(out, "wb") as f:
        while written < size:
            walk = np.empty((steps, chains), np.int64)
            for t in range(steps):                           # one transition per chain per step
                lo, hi = start[cur], start[cur + 1]
                cur = nxt[lo + (rng.random(chains) * (hi - lo)).astype(np.int64)]
                walk[t] = cur
            tok = walk.T.ravel()                             # chain by chain
            n = lens[tok]
            at = np.repeat(offs[tok] - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
            text = blob[at].tobytes().replace(b" \n", b"\n")
            text = text[: max(0, size - written)].rsplit(b"\n", 1)[0] + b"\n" if written + len(text) > size else text
            f.write(text)
            written += len(text)
    return {"bytes": out.stat().st_size, "source_words": len(words)}


CHILD = """
import json, sys, time
def peak_mb():   # VmHWM: ru_maxrss would carry the parent's peak across fork + exec
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1]) / 1024
from seqgen.core.config import build
from seqgen.data.prepare import DataConfig, prepare
args = json.loads(sys.argv[1])
t = time.perf_counter()
data = prepare(build(DataConfig, {"name": "text_files", **args["data"]}, "data"), args["root"], verbose=False)
print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": peak_mb(),
                  "tokens": sum(data.meta["tokens"].values()), "phases": data.meta.get("seconds"),
                  "dir": str(data.dir)}))
"""

ANCHOR = """
import json, sys, time
def peak_mb():   # VmHWM: ru_maxrss would carry the parent's peak across fork + exec
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1]) / 1024
from tokenizers import Tokenizer
from seqgen.data.tokenizer import Tokenizer as T
tok = T.load(sys.argv[2]).hf
t, n, batch, size = time.perf_counter(), 0, [], 0
def flush(batch):
    return sum(len(e.ids) for e in tok.encode_batch(batch))
with open(sys.argv[1], encoding="utf-8", newline="") as f:   # ~1 MB pieces of whole lines, 8 per call
    piece = []
    for line in f:
        piece.append(line); size += len(line)
        if size >= 1 << 20:
            batch.append("".join(piece)); piece, size = [], 0
            if len(batch) == 8:
                n += flush(batch); batch = []
    batch.append("".join(piece))
    n += flush(batch)
print(json.dumps({"seconds": time.perf_counter() - t, "tokens": n,
                  "rss_mb": peak_mb()}))
"""

NGRAM = """
import json, sys, time
def peak_mb():   # VmHWM: ru_maxrss would carry the parent's peak across fork + exec
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1]) / 1024
from pathlib import Path
import numpy as np
from seqgen.data.lines import line_spans
from seqgen.families.ngram.disk import release
from seqgen.families.ngram.fit import line_ids
from seqgen.families.ngram.model import NGram, BOS, EOS, UNK
folder = Path(sys.argv[2])
meta = json.loads((folder / "meta.json").read_text())
ids = np.memmap(sys.argv[1], dtype=sys.argv[3], mode="r")          # read in windows, as model=ngram does
starts, ends = line_spans(folder / "train.lines", meta["lines"]["train"], False)
vocab = [f"w{i}" for i in range(meta["vocab_size"])] + [BOS, EOS, UNK]   # ids as prepared, then specials
def lines():
    return line_ids(ids, starts, ends)
t = time.perf_counter()
memory = sys.argv[5] or None
m = NGram(NGram.Config(order=int(sys.argv[4]), memory=memory)).fit(lines if memory else list(lines()), vocab)
seconds, rss = time.perf_counter() - t, peak_mb()        # before the checksum below reads every table
logp_sum = 0.0
for x in m.logp:
    for i in range(0, len(x), 1 << 24):
        logp_sum += float(np.asarray(x[i:i + (1 << 24)], np.float64).sum())
        release([x])
print(json.dumps({"seconds": seconds, "rss_mb": rss,
                  "ngrams": int(sum(len(k) for k in m.keys)), "logp_sum": logp_sum}))
"""


def child(code, *args, pythonpath=ROOT, timeout=3600):
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    res = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                         timeout=timeout, cwd=pythonpath)   # cwd first on sys.path: the checkout asked for
    if res.returncode != 0:
        raise SystemExit(f"child failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="250M", help="generated corpus size (250M, 1G, ...)")
    ap.add_argument("--quick", action="store_true", help="10 MB, old path on 5 MB, n-gram on 0.5M tokens")
    ap.add_argument("--source", default=str(ROOT.parent / "shared/data/wordmix/train.txt"))
    ap.add_argument("--tokenizers", default="char,word,bpe")
    ap.add_argument("--bpe-sample", default="50M", help="data.tokenizer_sample for the BPE fit")
    ap.add_argument("--old-path", default="/work/main", help="a checkout with the pre-streaming code ('' to skip)")
    ap.add_argument("--old-size", default="26M", help="slice of the corpus the old path prepares")
    ap.add_argument("--old-tokenizers", default="bpe,word")
    ap.add_argument("--ngram-tokens", type=int, default=5_000_000, help="word tokens for the n-gram count (0: skip)")
    ap.add_argument("--ngram-memory", default="256M", help="model.memory of the budgeted n-gram count")
    ap.add_argument("--ngram-modes", default="in_memory,budget",
                    help="which n-gram counts run (in_memory needs ~60 bytes an n-gram at once)")
    ap.add_argument("--lmplz", default="", help="KenLM's lmplz binary: `lmplz -o 5 -S <ngram-memory>` on the "
                    "same slice, same run (not on PyPI: build it from KenLM's sources)")
    ap.add_argument("--workdir", default=None)
    return ap


def prepare_speed(corpus: Path, work: Path, mb: float, args, res: dict) -> None:
    """Streaming preparation per tokenizer (and, for BPE, the tokenizers library's own encode_batch)."""
    for kind in filter(None, args.tokenizers.split(",")):
        extra = {"tokenizer_sample": args.bpe_sample, "bpe_vocab_size": 4096} if kind == "bpe" else {}
        if kind == "word":
            extra = {"word_split": "whitespace"}
        r = child(CHILD, json.dumps({"data": {"train": str(corpus), "tokenizer": kind, **extra},
                                     "root": str(work / "prep")}))
        enc = r["phases"]["encode"]
        res[kind] = {"peak_rss_mb": round(r["rss_mb"]), "seconds": round(r["seconds"], 1),
                     "fit_s": r["phases"]["fit"], "encode_s": enc, "mb_s": round(mb / r["seconds"], 2),
                     "encode_mb_s": round(mb / enc, 2), "tokens_s": round(r["tokens"] / enc)}
        print(f"{kind}: {res[kind]}", flush=True)
        if kind == "bpe":   # the tokenizers library's own batch encoder, same tokenizer, same text
            a = child(ANCHOR, str(corpus), str(Path(r["dir"]) / "tokenizer.json"))
            res["bpe_encode_batch"] = {"seconds": round(a["seconds"], 1), "tokens_s": round(a["tokens"] / a["seconds"]),
                                       "peak_rss_mb": round(a["rss_mb"])}
            res["bpe_vs_encode_batch"] = round(a["seconds"] / enc, 3)
            print(f"tokenizers encode_batch: {res['bpe_encode_batch']}; ours / theirs speed "
                  f"{res['bpe_vs_encode_batch']}", flush=True)


def old_vs_new(corpus: Path, work: Path, args, res: dict) -> None:
    """The pre-streaming checkout and this one on the same slice: peak RSS and seconds."""
    old_size = parse_size(args.old_size, "--old-size")
    piece = work / "old_slice.txt"
    with open(corpus, "rb") as f, open(piece, "wb") as g:
        g.write(f.read(old_size).rsplit(b"\n", 1)[0] + b"\n")
    for kind in filter(None, args.old_tokenizers.split(",")):
        extra = {"bpe_vocab_size": 4096} if kind == "bpe" else {"word_split": "whitespace"}
        spec = json.dumps({"data": {"train": str(piece), "tokenizer": kind, **extra},
                           "root": str(work / f"old-{kind}")})
        old = child(CHILD, spec, pythonpath=args.old_path)
        new = child(CHILD, spec.replace(f"old-{kind}", f"new-{kind}"))
        row = {"old_rss_mb": round(old["rss_mb"]), "new_rss_mb": round(new["rss_mb"]),
               "old_s": round(old["seconds"], 1), "new_s": round(new["seconds"], 1)}
        res[f"old_vs_new_{kind}_{args.old_size}"] = row
        print(f"{kind} on {args.old_size}: {row}", flush=True)


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    if args.quick:   # about a minute on an idle 2-core machine
        args.size, args.old_size, args.ngram_tokens = "10M", "5M", min(args.ngram_tokens, 500_000)
    size = parse_size(args.size, "--size")
    announce(machine())
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seqgen-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    t = timeit(lambda: generate(Path(args.source), corpus, size), 1)
    mb = t.result["bytes"] / 2**20
    res = {"bench": "data", "corpus_mb": round(mb, 1), "generate_s": round(t.median, 1), "cores": os.cpu_count()}
    print(f"corpus: {mb:.1f} MB generated in {res['generate_s']} s", flush=True)
    prepare_speed(corpus, work, mb, args, res)
    if args.old_path:
        old_vs_new(corpus, work, args, res)
    if args.ngram_tokens:
        res["ngram"] = bench_ngram(work, corpus, args.ngram_tokens, args.ngram_memory,
                                   args.ngram_modes.split(","), args.lmplz)
    emit(res)
    return res


def bench_ngram(work: Path, corpus: Path, n_tokens: int, memory: str = "256M",
                modes=("in_memory", "budget"), lmplz: str = "") -> dict:
    """KN 5-gram on the first n_tokens words: in memory vs model.memory (same tables?), and KenLM's
    lmplz with the same budget on the same text when its binary is given."""
    piece = work / "ngram_slice.txt"
    with open(corpus, encoding="utf-8") as f, open(piece, "w", encoding="utf-8") as g:
        n = 0
        for line in f:
            g.write(line)
            n += len(line.split()) + 1
            if n >= n_tokens:
                break
    # whitespace words, as lmplz reads them; one 1% of lines held out as the (unused) validation split
    r = child(CHILD, json.dumps({"data": {"train": str(piece), "tokenizer": "word", "word_split": "whitespace",
                                          "valid_frac": 0.01}, "root": str(work / "ngram-prep")}))
    meta = json.loads((Path(r["dir"]) / "meta.json").read_text())
    out = {"tokens": meta["tokens"]["train"], "text_mb": round(piece.stat().st_size / 2**20, 1),
           "prepare_s": round(r["seconds"], 1), "prepare_rss_mb": round(r["rss_mb"])}
    labels = {"in_memory": ("in_memory", ""), "budget": (f"budget_{memory}", memory)}
    for label, mem in (labels[m] for m in modes):
        m = child(NGRAM, str(Path(r["dir"]) / "train.bin"), r["dir"], meta["dtype"], "5", mem, timeout=4 * 3600)
        out[label] = {"seconds": round(m["seconds"], 1), "peak_rss_mb": round(m["rss_mb"]), "ngrams": m["ngrams"],
                      "logp_sum": m["logp_sum"]}
        print(f"ngram 5-gram {label}: {out[label]}", flush=True)
    if len(modes) == 2:
        a, b = out["in_memory"], out[labels["budget"][0]]
        out["identical"] = a["logp_sum"] == b["logp_sum"] and a["ngrams"] == b["ngrams"]
    if lmplz:
        out["lmplz"] = run_lmplz(lmplz, piece, memory, work)
        ours = out[labels[modes[-1]][0]]["seconds"] + out["prepare_s"]
        out["prepare_plus_fit_vs_lmplz_time"] = round(ours / out["lmplz"]["seconds"], 2)
        print(f"lmplz: {out['lmplz']}; ours (prepare + fit) / lmplz time {out['prepare_plus_fit_vs_lmplz_time']}",
              flush=True)
    return out


def run_lmplz(binary: str, text: Path, memory: str, work: Path) -> dict:
    """`lmplz -o 5 -S memory -T work --text text` (ARPA written, then deleted): wall s and peak RSS."""
    arpa = work / "lmplz.arpa"
    cmd = [binary, "-o", "5", "-S", memory, "-T", str(work), "--text", str(text), "--arpa", str(arpa)]
    timed = Path("/usr/bin/time").exists()
    t = time.perf_counter()
    res = subprocess.run((["/usr/bin/time", "-v"] if timed else []) + cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"lmplz failed: {res.stderr[-2000:]}")
    rss = next((int(ln.split()[-1]) / 1024 for ln in res.stderr.splitlines() if "Maximum resident" in ln), None)
    size = arpa.stat().st_size / 2**20
    arpa.unlink()
    return {"seconds": round(secs, 1), "peak_rss_mb": round(rss) if rss else None, "arpa_mb": round(size)}


if __name__ == "__main__":
    main()
