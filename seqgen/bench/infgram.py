"""∞-gram index on wordmix beside tokengrams (MemmapIndex) and infini-gram, on the same token file.

python scripts/bench_infgram.py                 # wordmix train words (~5M tokens), 1,000 queries (a few minutes)
python scripts/bench_infgram.py --quick         # the first 500k tokens, 200 queries (a minute or two)
python scripts/bench_infgram.py --data DIR      # another train/valid/test.txt folder
Prints the machine first; ends with one JSON line: {"bench": "infgram", ...}.

The data: wordmix prepared by seqgen (data=text_files, word tokenizer, word_split=words so newlines are
tokens, max_vocab=65535 so ids fit uint16), one line = one document. Our index replaces each newline
by the separator; the peers index *that* token file (tokens.0.bin): tokengrams as a raw u16 file,
infini-gram as its tokenized.0 with one document per separator (built by its own rust_indexing
step). Queries of length 1-20, half drawn from inside training lines, half random ids, none holding
the separator: counts, next-token distributions (peers' separator reported as the newline id) and,
for infini-gram, infgram_ntd are compared query by query. Latencies are medians of single calls from
Python (peers' bindings included): ours, ours without the fence keys and tokengrams alternated over
7 rounds (3 with --quick), the median of the rounds reported (latencies()); infini-gram (in a child
process) exact (max_support above any count) and at its default max_support=1000 (sampled,
approximate for frequent prompts).
"""

import argparse
import contextlib
import io
import json
import os
import tempfile
import types
from pathlib import Path

import numpy as np

from seqgen.bench import announce, emit, machine, run_child, timeit, versions
from seqgen.data.prepare import DataConfig, prepare
from seqgen.families.infgram.engine import Engine
from seqgen.families.infgram.index import build

EXACT = 1 << 40   # infini-gram's max_support above any count: exact answers


def median_us(fn, items) -> float:
    """Median microseconds of one call of fn per item."""
    return timeit(fn, over=items).median * 1e6


def make_queries(tok, sep, rng, n, lo=1, hi=20):
    """n queries: half windows inside one line of tok (no separator), half random ids."""
    out = []
    V = int(tok[tok != sep].max()) + 1
    while len(out) < n:
        m = int(rng.integers(lo, hi + 1))
        if len(out) % 2 == 0:
            a = int(rng.integers(1, len(tok) - m))
            q = tok[a:a + m]
            if (q == sep).any():
                continue
            out.append([int(t) for t in q])
        else:
            out.append([int(t) for t in rng.integers(0, V, m)])
    return out


def build_tokengrams(tokens_file: Path, work: Path, n_tokens: int, res: dict):
    try:
        from tokengrams import MemmapIndex  # lazy: an optional anchor

        t = timeit(lambda: MemmapIndex.build(str(tokens_file), str(work / "tg.idx"), vocab=2**16), 1)
        res["tokengrams_build_s"] = t.median
        res["tokengrams_bytes_per_token"] = (tokens_file.stat().st_size + (work / "tg.idx").stat().st_size) / n_tokens
        return t.result
    except Exception as e:   # report, do not hide
        res["tokengrams_error"] = f"{type(e).__name__}: {e}"
        return None


def build_infinigram(tokens_file: Path, work: Path, sep: int, n_tokens: int, res: dict):
    """infini-gram's own suffix-array build of the same token file -> its index folder (queried in a
    child process: its C++ engine can abort the interpreter)."""
    try:
        from infini_gram import indexing  # lazy: an optional anchor

        ig = work / "ig"
        ig.mkdir()
        arr = np.fromfile(tokens_file, np.uint16)
        (ig / "tokenized.0").symlink_to(tokens_file)
        (np.flatnonzero(arr == sep) * 2).astype(np.uint64).tofile(ig / "offset.0")   # a document per separator
        # its parts overlap by indexing.HACK bytes; on a file shorter than a part plus that overlap, two jobs
        # put suffixes into the table twice (1.5x the pointers, wrong counts): one job there
        cpus = 2 if tokens_file.stat().st_size > 2 * (indexing.HACK + 1) else 1
        args = types.SimpleNamespace(save_dir=str(ig), temp_dir=str(work / "igtmp"), worker_id=0, shards=1, workers=1,
                                     mem=4, cpus=cpus, token_width=2)
        (work / "igtmp").mkdir()
        cwd = os.getcwd()

        def build_sa():
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    indexing.build_sa(args)
            finally:
                os.chdir(cwd)

        res["infinigram_build_s"] = timeit(build_sa, 1).median
        files = ("tokenized.0", "table.0", "offset.0")
        res["infinigram_bytes_per_token"] = sum((ig / f).stat().st_size for f in files) / n_tokens
        return ig
    except Exception as e:
        res["infinigram_error"] = f"{type(e).__name__}: {e}"
        return None


def infinigram_child(ig: Path):
    """Run infini-gram's engine on the saved queries; print its answers and latencies as one JSON line."""
    from infini_gram.engine import InfiniGramEngine  # lazy: an optional anchor, in its own process

    d = json.loads((ig.parent / "queries.json").read_text())
    eng = InfiniGramEngine(index_dir=str(ig), eos_token_id=d["nl"], vocab_size=65535)
    qs, five, prompts = d["qs"], d["five"], d["prompts"]
    exact_prompts = [p for p, ok in zip(prompts, d["nonempty"]) if ok]
    out = {"count5_us": median_us(eng.count, five),
           "ntd_exact_us": median_us(lambda q: eng.ntd(q, max_support=EXACT), qs),
           "ntd_default_us": median_us(eng.ntd, qs),
           "infgram_ntd_exact_us": median_us(lambda q: eng.infgram_ntd(q, max_support=EXACT), exact_prompts),
           "infgram_ntd_default_us": median_us(eng.infgram_ntd, prompts),
           "count": [eng.count(q)["count"] for q in qs],
           "ntd": [{t: r["cont_cnt"] for t, r in eng.ntd(q, max_support=EXACT)["result_by_token_id"].items()}
                   for q in qs],
           "infgram": [eng.infgram_ntd(p, max_support=EXACT) if ok else None
                       for p, ok in zip(prompts, d["nonempty"])]}
    print(json.dumps(out))


def compare_infinigram(r, eng, q, res):
    """infini-gram's answers (its child's JSON) beside ours, query by query."""
    nq = len(q["qs"])
    for k in ("count5_us", "ntd_exact_us", "ntd_default_us", "infgram_ntd_exact_us", "infgram_ntd_default_us"):
        res[f"infinigram_{k}"] = r[k]
    same_c = sum(a == c for a, c in zip(r["count"], q["ours_cnt"]))
    same_n = sum({int(t): c for t, c in b.items()} == m for b, m in zip(r["ntd"], q["ours_ntd"]))
    same_i = compared = 0
    for p, b in zip(q["prompts"], r["infgram"]):
        if b is None:          # backs off to the empty suffix: not asked exactly (see queries_for_infinigram)
            continue
        a = eng.infgram_ntd(p)
        bt = {int(t): {"cont_cnt": v["cont_cnt"], "prob": v["prob"]} for t, v in b["result_by_token_id"].items()}
        same_i += a["suffix_len"] == b["suffix_len"] and a["result_by_token_id"] == bt
        compared += 1
    res.update({"infinigram_same_count": same_c, "infinigram_same_ntd": same_n,
                "infinigram_same_infgram_ntd": same_i, "infinigram_infgram_ntd_compared": compared})
    print(f"infini-gram: count (5 tokens) {r['count5_us']:.1f} us, ntd exact {r['ntd_exact_us']:.1f} us / default "
          f"{r['ntd_default_us']:.1f} us, infgram_ntd exact {r['infgram_ntd_exact_us']:.1f} us / default "
          f"{r['infgram_ntd_default_us']:.1f} us; identical counts {same_c}/{nq}, ntd {same_n}/{nq}, infgram_ntd "
          f"(suffix_len, counts, probabilities) {same_i}/{compared} ({nq - compared} prompts back off to the empty "
          f"suffix: not asked exactly)", flush=True)


def run_infinigram(ig: Path, eng, q: dict, res: dict) -> None:
    """infini-gram's exact infgram_ntd aborts (std::system_error, thread creation) when the prompt backs
    off to the empty suffix: its exact unigram spawns too many threads. Those prompts are asked only at
    its default max_support (approximate) and are not compared. Its process is retried twice."""
    nonempty = [eng.infgram_ntd(p)["suffix_len"] > 0 for p in q["prompts"]]
    (ig.parent / "queries.json").write_text(json.dumps({"nl": q["nl"], "qs": q["qs"], "five": q["five"],
                                                        "prompts": q["prompts"], "nonempty": nonempty}))
    for attempt in range(3):
        try:
            r = run_child("infgram", "--infinigram-child", str(ig))
        except RuntimeError as e:
            res["infinigram_query_failures"] = attempt + 1
            res["infinigram_error"] = str(e)[-300:]
            print(f"infini-gram: query process failed ({res['infinigram_error']}); retrying", flush=True)
            continue
        res.pop("infinigram_error", None)
        return compare_infinigram(r, eng, q, res)


def compare_tokengrams(tg, eng, q: dict, res: dict) -> None:
    nq, qs, nl, sep = len(q["qs"]), q["qs"], q["nl"], eng.sep
    same_c = sum(tg.count(x) == c for x, c in zip(qs, q["ours_cnt"]))
    same_n = 0
    for x, mine in zip(qs, q["ours_ntd"]):
        nxt = np.asarray(tg.count_next(x))
        same_n += {(nl if t == sep else int(t)): int(nxt[t]) for t in np.flatnonzero(nxt)} == mine
    res.update({"tokengrams_same_count": same_c, "tokengrams_same_ntd": same_n})
    print(f"tokengrams: count (5 tokens) {res['tokengrams_count5_us']:.1f} us, count_next "
          f"{res['tokengrams_ntd_us']:.1f} us; identical counts {same_c}/{nq}, ntd {same_n}/{nq}", flush=True)


def queries(eng, data, nl: int, nq: int) -> dict:
    """The query sets, with ∞-gram prompts of up to 30 tokens before random held-out positions, cut at
    the line start; our engine's latencies and answers on them."""
    rng, tok = np.random.default_rng(0), eng.shards[0].tok
    qs = make_queries(tok, eng.sep, rng, nq)
    five = make_queries(tok, eng.sep, rng, nq, 5, 5)[::2] * 2
    valid = np.asarray(data.tokens("valid"), np.int64)
    prompts = []
    for j in rng.integers(30, len(valid), nq):
        p = valid[j - 30:j]
        cut = np.flatnonzero(p == nl)
        prompts.append([int(t) for t in p[cut[-1] + 1 if len(cut) else 0:]])
    eng.count(qs[0])   # warm the compiled kernels
    eng.infgram_ntd(qs[0])
    return {"nl": nl, "qs": qs, "five": five, "prompts": prompts,
            "ours_ntd": [{t: r["cont_cnt"] for t, r in eng.ntd(x)["result_by_token_id"].items()} for x in qs],
            "ours_cnt": [eng.count(x)["count"] for x in qs]}


def index_ours(train, work: Path, data, nl: int, res: dict) -> Engine:
    build(train[:10_000], work / "warm", data.tokenizer.vocab_size, nl, 10**9, verbose=False)   # imports
    t = timeit(lambda: build(train, work / "ours", data.tokenizer.vocab_size, nl, 10**9, verbose=False), 1)
    size = sum(p.stat().st_size for p in (work / "ours").glob("*.bin"))
    res.update({"build_s": t.median, "build_tokens_per_s": len(train) / t.median, "bytes_per_token": size / len(train),
                "ptr_bytes": t.result["shards"][0]["ptr_bytes"]})
    print(f"ours: {len(train):,} tokens indexed in {t.median:.2f} s ({len(train) / t.median / 1e6:.2f}M tokens/s), "
          f"{size / len(train):.2f} bytes/token", flush=True)
    return Engine(work / "ours")


def latencies(eng, nofence, tg, q: dict, rounds: int) -> dict:
    """Median microseconds a call: per round the median over the query set, then the median of the
    rounds, ours (with and without fence keys) and tokengrams alternated inside each round so that a
    change in the machine's load falls on all of them."""
    eng.ntd(q["qs"][0]), nofence.ntd(q["qs"][0]), nofence.infgram_ntd(q["prompts"][0])   # warm
    plan = {"count5_us": (eng.count, q["five"]), "count5_nofence_us": (nofence.count, q["five"]),
            "ntd_us": (eng.ntd, q["qs"]), "ntd_nofence_us": (nofence.ntd, q["qs"]),
            "infgram_ntd_us": (eng.infgram_ntd, q["prompts"]),
            "infgram_ntd_nofence_us": (nofence.infgram_ntd, q["prompts"])}
    if tg is not None:
        plan |= {"tokengrams_count5_us": (tg.count, q["five"]), "tokengrams_ntd_us": (tg.count_next, q["qs"])}
    runs = {k: [] for k in plan}
    for _ in range(rounds):
        for k, (fn, items) in plan.items():
            runs[k].append(median_us(fn, items))
    return {k: float(np.median(v)) for k, v in runs.items()} | {"latency_rounds": rounds}


def compare_all(train, work: Path, data, nl: int, nq: int, res: dict, rounds: int) -> None:
    eng = index_ours(train, work, data, nl, res)
    tokens = work / "ours" / "tokens.0.bin"
    tg = build_tokengrams(tokens, work, len(train), res)
    ig = build_infinigram(tokens, work, eng.sep, len(train), res)
    for name in ("tokengrams", "infinigram"):
        if f"{name}_build_s" in res:
            res[f"{name}_build_tokens_per_s"] = len(train) / res[f"{name}_build_s"]
            print(f"{name}: built in {res[f'{name}_build_s']:.2f} s, "
                  f"{res[f'{name}_bytes_per_token']:.2f} bytes/token", flush=True)
        else:
            print(f"{name}: not run ({res.get(f'{name}_error')})", flush=True)
    q = queries(eng, data, nl, nq)
    res.update(latencies(eng, Engine(work / "ours", fences=False), tg, q, rounds))
    print(f"ours: count (5 tokens) {res['count5_us']:.1f} us, ntd {res['ntd_us']:.1f} us, "
          f"infgram_ntd {res['infgram_ntd_us']:.1f} us (medians; without the fence keys "
          f"{res['count5_nofence_us']:.1f} / {res['ntd_nofence_us']:.1f} / {res['infgram_ntd_nofence_us']:.1f} us)",
          flush=True)
    if tg is not None:
        compare_tokengrams(tg, eng, q, res)
    if ig is not None:
        run_infinigram(ig, eng, q, res)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/wordmix")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--infinigram-child", default=None, help=argparse.SUPPRESS)
    return ap


def main(argv=None) -> dict | None:
    args = parser().parse_args(argv)
    if args.infinigram_child:
        return infinigram_child(Path(args.infinigram_child))
    d = Path(args.data)
    mach = {**machine(probe_bf16=False), **versions("numba", "pydivsufsort", "tokengrams", "infini-gram")}
    announce(mach, f"load average {os.getloadavg()[0]:.1f}")
    dc = DataConfig(name="text_files", tokenizer="word", word_split="words", max_vocab=65535,
                    train=str(d / "train.txt"), valid=str(d / "valid.txt"), test=str(d / "test.txt"))
    data = prepare(dc, os.path.abspath(args.data_root))
    train = data.tokens("train")
    if args.quick:
        train = train[:500_000]
    nq = args.queries or (200 if args.quick else 1000)
    nl = data.tokenizer.encode("\n")[0]
    res = {"bench": "infgram", "quick": args.quick, "train_tokens": int(len(train)),
           "vocab": data.tokenizer.vocab_size, "newline_id": int(nl), "queries": nq}
    # infini-gram's build_sa changes the working directory: paths are absolute
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        compare_all(train, Path(tmp).resolve(), data, nl, nq, res, 3 if args.quick else 7)
    res["machine"] = mach
    res["load_average_1min_end"] = os.getloadavg()[0]
    emit(res, digits=4)
    return res


if __name__ == "__main__":
    main()
