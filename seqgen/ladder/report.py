"""The ladder's results as a Markdown table, PNG plots and a JSON file (see seqgen/ladder.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from matplotlib.figure import Figure

from seqgen.ladder.scaling import scaling_claims, scaling_figure, scaling_markdown
from seqgen.ladder.text_report import text_claims, text_markdown, text_plot


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _minutes(s):
    if s is None:
        return "—"
    return "< 1 s" if s < 1 else (f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min")


def ordering(rows: list[dict]) -> list[str]:
    """Sentences on what the lecture predicts: every neural rung below the 5-gram in bits per
    character, and (characters) the GPT >= 25% below it."""
    out = []
    for corpus in ("chars", "words"):
        text = [r for r in rows if r["corpus"] == corpus and "bpc" in r]
        five = next((r for r in text if r["key"].endswith("ngram5")), None)
        if five is None:
            continue
        for r in text:
            if r.get("baseline") or "_ngram" in r["key"]:   # older rows lack the baseline flag
                continue
            gain = 1 - r["bpc"] / five["bpc"]
            verdict = (f"below the 5-gram's {five['bpc']:.3f} ({100 * gain:.1f}% lower)" if gain > 0 else
                       f"**not below** the 5-gram's {five['bpc']:.3f} ({-100 * gain:.1f}% higher)")
            out.append(f"- {corpus}: {r['label']} at {r['bpc']:.3f} bits/char is {verdict}")
    return out


def markdown(rows: list[dict], wall_seconds: float, quick: bool, planned=()) -> str:
    """results.md: the header, the characters / words tables, the text and scaling sections, the pixel
    tables, then what the lecture predicts, each checked against the rows."""
    lines = _header(wall_seconds, quick)
    lines += _corpus_tables(rows)
    lines += text_markdown(rows, list(planned))
    lines += scaling_markdown(rows)
    pix = [r for r in rows if r["corpus"] == "pixels"]
    if pix:
        lines += _pixel_table(pix) + _visual_prompt_table(pix)
    checks = text_claims(rows) + scaling_claims(rows) + ordering(rows)
    if checks:
        lines += ["## What the lecture predicts", ""] + checks + [""]
    lines += ["![bits per character per rung](ladder_bpc.png)", "", "![validation curves](ladder_curves.png)", ""]
    return "\n".join(lines)


def _header(wall_seconds: float, quick: bool) -> list[str]:
    """The title and what the tables measure, on which split."""
    return ["# Results: the ladder" + (" (quick)" if quick else ""), "",
            "Written by `python scripts/ladder.py" + (" --quick" if quick else "") + "` "
            f"(its last invocation took {_minutes(wall_seconds)}; each table's rows keep the figures of the run "
            "that made them, see the train times and the notes at the end). "
            "Held-out split: `valid` for tiny-shakespeare "
            "characters (it has no test split), `test` otherwise. Bits per character code the whole "
            "held-out text (the n-grams score every line, blank ones included, one `</s>` per newline); "
            "word perplexity is per token of the word rungs' shared closed vocabulary (`<unk>` for rare words). "
            "Train time: the run's recorded training wall time on this CPU (for runs older than that record, "
            "the span of its metrics.jsonl timestamps, pauses included).", ""]


def _corpus_tables(rows: list[dict]) -> list[str]:
    """Characters and words: bits per character, word perplexity, train time and command per rung."""
    lines = []
    for corpus, title in (("chars", "Characters"), ("words", "Words")):
        text = [r for r in rows if r["corpus"] == corpus]
        if not text:
            continue
        data = next((r["data"] for r in text if "data" in r), "")
        lines += [f"## {title} ({data})", "", "| rung | bits / char | word perplexity | train time | command |",
                  "|---|---|---|---|---|"]
        for r in text:
            if "bpc" not in r:   # an embedding rung: its analogy / similarity scores
                scores = ", ".join(f"{k} {_fmt(v)}" for k, v in r.items()
                                   if k.startswith(("analogy", "wordsim", "simlex")))
                lines.append(f"| {r['label']} ({scores or 'embeddings'}) | — | — | {_minutes(r['train_seconds'])} | "
                             f"`{r['command']}` |")
                continue
            lines.append(f"| {r['label']} | {_fmt(r.get('bpc'))} | {_fmt(r.get('ppl'), 1)} | "
                         f"{_minutes(r['train_seconds'])} | `{r['command']}` |")
        lines.append("")
    return lines


def _pixel_table(pix: list[dict]) -> list[str]:
    """The drawing rungs beside the pixel n-gram, the upsampler beside nearest / bicubic."""
    lines = ["## Pixels (shapes, held-out shape–colour pairs)", ""]
    for r in pix:   # rows carried over from an older run say so (results.json "note")
        if r.get("note"):
            lines += [f"> **{r['label']}**: {r['note']}", ""]
    lines += ["| rung | bits / pixel-token | caption fidelity: mean, shape, all right, relation | token accuracy "
              "| PSNR dB | SSIM | consistency | s / image | train time |", "|---|---|---|---|---|---|---|---|---|"]
    ngram_done = False
    for r in pix:
        if "ngram_bits_per_pixel" in r:   # a drawing rung, beside its count baseline (once)
            if not ngram_done:
                lines.append(f"| pixel n-gram (W, NW, N, NE; counts) | {_fmt(r['ngram_bits_per_pixel'], 4)} "
                             "| — | — | — | — | — | — | — |")
                ngram_done = True
            lines += _drawing_rows(r)
        elif "bits_per_token" in r and "nearest_psnr" in r:
            lines += _upsampler_rows(r)
    return lines + [""]


def _drawing_rows(r: dict) -> list[str]:
    """A text2pixel rung: bits per pixel and caption fidelity, with (and if measured without) guidance."""
    lines, t = [], _minutes(r["train_seconds"])
    g = r.get("guidance", 3.0)
    for name, lab in (("fidelity", f"guidance {g:g}" if g else "no guidance"),
                      ("fidelity_noguide", "no guidance")):
        if name == "fidelity_noguide" and name not in r:
            continue
        fid = ", ".join(_fmt(r.get(k)) for k in (name, f"{name}_shape", f"{name}_all", f"{name}_relation")
                        ) if name in r else "—"
        lines.append(f"| {r['label']}, {lab} | {_fmt(r['bits_per_pixel'], 4)} | {fid} "
                     f"| — | — | — | — | — | {t} |")
    return lines


def _upsampler_rows(r: dict) -> list[str]:
    """The upsampler beside nearest-neighbour and bicubic 4x enlargement of the same 32x32 inputs."""
    lines, t = [], _minutes(r["train_seconds"])
    for who, lab in (("model", r["label"]), ("nearest", "nearest 4×"), ("bicubic", "bicubic + requantize")):
        bits = _fmt(r["bits_per_token"], 4) if who == "model" else "—"
        sec = _fmt(r["seconds_per_image"], 2) if who == "model" else "—"
        lines.append(f"| {lab} | {bits} | — | {_fmt(r[f'{who}_token_accuracy'], 4)} | "
                     f"{_fmt(r[f'{who}_psnr'], 2)} | {_fmt(r.get(f'{who}_ssim'), 4)} | "
                     f"{_fmt(r[f'{who}_consistency'], 4)} | {sec} | "
                     f"{t if who == 'model' else '—'} |")
    return lines


def _visual_prompt_table(pix: list[dict]) -> list[str]:
    """Visual prompting's shots against the two baselines ([] without a visual prompting row)."""
    vp = [r for r in pix if any(k.startswith("mean/") for k in r)]
    if not vp:
        return []
    lines = ["Visual prompting (held-out task × colour / shape combinations), mean over the tasks: "
             "exact match and pixel accuracy of the answer B′, beside the two baselines.", "",
             "| rung | 0 shots exact | 1 shot exact | 2 shots exact | 2 shots pixel | B unchanged: exact, "
             "pixel | image analogy (2 pairs): exact, pixel | train time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in vp:
        lines.append(f"| {r['label']} | {_fmt(r.get('mean/0shot/exact'))} | "
                     f"{_fmt(r.get('mean/1shot/exact'))} | {_fmt(r.get('mean/2shot/exact'))} | "
                     f"{_fmt(r.get('mean/2shot/pixel'))} | "
                     f"{_fmt(r.get('mean/unchanged/exact'))}, {_fmt(r.get('mean/unchanged/pixel'))} | "
                     f"{_fmt(r.get('mean/analogy2/exact'))}, {_fmt(r.get('mean/analogy2/pixel'))} | "
                     f"{_minutes(r['train_seconds'])} |")
    return lines + [""]


def plots(rows: list[dict], out_root: Path, out_dir: Path) -> list[Path]:
    written = []
    text = [r for r in rows if "bpc" in r]
    if text:
        fig = Figure(figsize=(14, 4.5))
        axes = fig.subplots(1, 2)
        for ax, corpus in zip(axes, ("chars", "words")):
            rs = [r for r in text if r["corpus"] == corpus]
            ax.barh([r["label"] for r in rs], [r["bpc"] for r in rs], color=["#888" if r.get("baseline") else "#3a7"
                                                                          for r in rs])
            ax.set_title(f"{corpus}: held-out bits per character")
            ax.invert_yaxis()
        fig.tight_layout()
        written.append(out_dir / "ladder_bpc.png")
        fig.savefig(written[-1], dpi=90)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    curves = 0
    for r in rows:   # the Shakespeare GPTs' validation curves (the wordmix ladder has its own plot)
        path = out_root / r["key"] / "metrics.jsonl"
        if r.get("baseline") or r["corpus"] not in ("chars", "words") or not path.is_file():
            continue
        pts = [(d["step"], d["val/bpc"]) for d in map(json.loads, path.read_text().splitlines()) if "val/bpc" in d]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{r['corpus']}: {r['label']}")
            curves += 1
    ax.set_xlabel("step")
    ax.set_ylabel("validation bits per character")
    if curves:   # none (their runs are elsewhere): keep the picture a previous run wrote
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(out_dir / "ladder_curves.png")
        fig.savefig(written[-1], dpi=90)
    for r in rows:   # the pixel rungs' last sample grids
        samples = sorted((out_root / r["key"] / "samples").glob("step_*.png"))
        if r["corpus"] == "pixels" and samples:
            written.append(out_dir / f"ladder_{r['model_name']}.png")
            shutil.copyfile(samples[-1], written[-1])
    return written


def with_previous_rows(out_dir, rows: list[dict], only: list[str] | None, keys: set | None = None) -> list[dict]:
    """`--only` reran some corpora (or `--rungs` some rungs, `keys` their rows): keep the other rows
    of the previous results.json in out_dir (in their order, before the new ones), so the table stays whole."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        return rows
    old = json.loads(path.read_text(encoding="utf-8")).get("rows", [])
    if keys is not None:   # --rungs: replace those rows where they were, append new ones
        new = {r["key"]: r for r in rows}
        kept = [new.pop(r["key"], r) for r in old]
        return kept + [r for r in rows if r["key"] in new]
    return [r for r in old if r.get("corpus") not in only] + rows


KEEP_MARKER = "<!-- below: not written by the ladder; kept when it rewrites this file -->"


def write(rows: list[dict], out_root, out_dir, wall_seconds: float, quick: bool, planned=()) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = markdown(rows, wall_seconds, quick, planned)
    written = plots(rows, Path(out_root), out_dir)
    text_plot(rows, out_dir)
    scaling_figure(rows, out_dir)
    if any(p.name.startswith("ladder_text2pixel") for p in written):
        md += "\n![text2pixel samples (shapes)](ladder_text2pixel.png)\n"
    if any(p.name.startswith("ladder_upsampler") for p in written):
        md += "\n![upsampler: 32x32 inputs (top), 128x128 outputs (bottom)](ladder_upsampler.png)\n"
    path = out_dir / "results.md"
    if path.is_file():   # results written by other benches (below the marker) survive a ladder rerun
        old = path.read_text(encoding="utf-8")
        if KEEP_MARKER in old:
            md += "\n" + old[old.index(KEEP_MARKER):]
    path.write_text(md, encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps({"wall_seconds": wall_seconds, "quick": quick, "rows": rows},
                                                     indent=1, default=str))
    return path
