"""Train and evaluate the lecture's ladder: characters and words (Shakespeare), the text ladder on
wordmix in bits per byte, the pixel models, and text2pixel at four sizes.

    python scripts/ladder.py                 # full run (hours): writes docs/results.md and docs/ladder_*.png
    python scripts/ladder.py --only text     # the wordmix ladder (needs ../shared/data/wordmix or $SEQGEN_WORDMIX)
    python scripts/ladder.py --only pixels   # text2pixel p=1 / p=2 / guidance, upsampler, visual prompting
    python scripts/ladder.py --only scaling  # text2pixel on shapes and emoji at four sizes
    python scripts/ladder.py --quick         # tiny settings, a few minutes on CPU: outputs/ladder_quick/

Rungs whose run directory already holds a finished checkpoint are evaluated, not retrained.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from seqgen.core.errors import SeqgenError
from seqgen.ladder.report import ordering, with_previous_rows, write
from seqgen.ladder.rungs import CHAR_DATA, WORD_DATA, run_ladder, rung_command, rungs
from seqgen.ladder.text import TEXT_DATA
from seqgen.ladder.text_report import readme_tables

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny models and steps (CI); results under outputs/")
    p.add_argument("--out", default=None, help="folder for results.md, results.json and the PNGs "
                   "(default: docs/ for the full run, <out-root>/ladder_quick for --quick)")
    p.add_argument("--out-root", default="outputs", help="where the rungs' run directories live")
    p.add_argument("--data-root", default=os.environ.get("SEQGEN_DATA_ROOT", "data"))
    p.add_argument("--only", default=None, help="comma-separated parts: chars,words,text,pixels,scaling "
                   "(the other parts' rows are kept from the previous results.json)")
    p.add_argument("--rungs", default=None, help="comma-separated rung names (e.g. wordmix_gpt or gpt): train "
                   "and score only these; the other rows are kept from the previous results.json")
    p.add_argument("--cached", action="store_true", help="reuse each finished rung's saved figures "
                   "(<run>/ladder_row.json) instead of evaluating it again")
    p.add_argument("--readme", action="store_true", help="print README's results tables from <out>/results.json "
                   "and exit (README must hold them verbatim: tests/ladder/test_readme_results.py)")
    p.add_argument("--text-files", default=None, metavar="TRAIN,VALID,TEST",
                   help="use these local text files for every text corpus instead of Shakespeare and wordmix")
    args = p.parse_args(argv)

    data = {"chars": CHAR_DATA, "words": WORD_DATA}
    only = args.only.split(",") if args.only else None
    parts = {"chars", "words", "text", "pixels", "scaling"}
    if only and not set(only) <= parts:
        p.error(f"--only takes {','.join(sorted(parts))}, got {args.only!r}")
    if args.text_files:
        files = args.text_files.split(",")
        if len(files) != 3 or not all(Path(f).is_file() for f in files):
            p.error(f"--text-files wants three existing files TRAIN,VALID,TEST, got {args.text_files!r}")
        base = ["data=text_files", f"data.train={files[0]}", f"data.valid={files[1]}", f"data.test={files[2]}"]
        data = {"chars": base + ["data.tokenizer=char"], "words": base + ["data.tokenizer=word"], "text": base}
    out_dir = Path(args.out) if args.out else (Path(args.out_root) / "ladder_quick" if args.quick else ROOT / "docs")
    if args.readme:
        print(readme_tables(json.loads((out_dir / "results.json").read_text(encoding="utf-8"))["rows"]), end="")
        return
    t0 = time.perf_counter()
    try:
        rows = run_ladder(Path(args.out_root), args.data_root, args.quick, only, data,
                          pick=args.rungs.split(",") if args.rungs else None, cached=args.cached)
    except SeqgenError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    wall = time.perf_counter() - t0
    if only or args.rungs:
        rows = with_previous_rows(out_dir, rows, only, {r["key"] for r in rows} if args.rungs else None)
    data.setdefault("text", TEXT_DATA)
    planned = [(r.key, r.label, rung_command(r, data)) for r in rungs(args.quick) if r.corpus == "text"] \
        if any(r.get("corpus") == "text" for r in rows) else []
    path = write(rows, args.out_root, out_dir, wall, args.quick, planned)
    print("\n".join(ordering(rows)))
    print(f"[ladder] {len(rows)} rungs in {wall / 60:.1f} min; table: {path}")
    print(json.dumps({"ladder": "quick" if args.quick else "full", "wall_seconds": round(wall, 1),
                      **{r["key"]: round(r.get("bits_per_byte", r.get("bpc", float("nan"))), 4)
                         for r in rows if "bpc" in r or "bits_per_byte" in r}}))


if __name__ == "__main__":
    main()
