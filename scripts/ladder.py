"""Train and evaluate the lecture's ladder on one corpus each of characters, words and pixels.

    python scripts/ladder.py            # full run: writes docs/results.md and docs/ladder_*.png
    python scripts/ladder.py --quick    # tiny settings, a few minutes on CPU: outputs/ladder_quick/

Rungs whose run directory already holds a finished checkpoint are evaluated, not retrained.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny models and steps (CI); results under outputs/")
    p.add_argument("--out", default=None, help="folder for results.md, results.json and the PNGs "
                   "(default: docs/ for the full run, <out-root>/ladder_quick for --quick)")
    p.add_argument("--out-root", default="outputs", help="where the rungs' run directories live")
    p.add_argument("--data-root", default=os.environ.get("SEQGEN_DATA_ROOT", "data"))
    p.add_argument("--only", default=None, help="comma-separated corpora: chars,words,pixels "
                   "(the other corpora's rows are kept from the previous results.json)")
    p.add_argument("--text-files", default=None, metavar="TRAIN,VALID,TEST",
                   help="use these local text files for both text corpora instead of the Shakespeare ones")
    args = p.parse_args(argv)

    from seqgen.core.errors import SeqgenError
    from seqgen.ladder.report import ordering, with_previous_rows, write
    from seqgen.ladder.rungs import CHAR_DATA, WORD_DATA, run_ladder

    data = {"chars": CHAR_DATA, "words": WORD_DATA}
    if args.text_files:
        files = args.text_files.split(",")
        if len(files) != 3 or not all(Path(f).is_file() for f in files):
            p.error(f"--text-files wants three existing files TRAIN,VALID,TEST, got {args.text_files!r}")
        base = ["data=text_files", f"data.train={files[0]}", f"data.valid={files[1]}", f"data.test={files[2]}"]
        data = {"chars": base + ["data.tokenizer=char"], "words": base + ["data.tokenizer=word"]}
    out_dir = Path(args.out) if args.out else (Path(args.out_root) / "ladder_quick" if args.quick else ROOT / "docs")
    t0 = time.perf_counter()
    try:
        rows = run_ladder(Path(args.out_root), args.data_root, args.quick,
                          args.only.split(",") if args.only else None, data)
    except SeqgenError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    wall = time.perf_counter() - t0
    if args.only:
        rows = with_previous_rows(out_dir, rows, args.only.split(","))
    path = write(rows, args.out_root, out_dir, wall, args.quick)
    print("\n".join(ordering(rows)))
    print(f"[ladder] {len(rows)} rungs in {wall / 60:.1f} min; table: {path}")
    print(json.dumps({"ladder": "quick" if args.quick else "full", "wall_seconds": round(wall, 1),
                      **{r["key"]: round(r["bpc"], 4) for r in rows if "bpc" in r}}))


if __name__ == "__main__":
    main()
