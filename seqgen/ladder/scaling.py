""""Larger models attain better realism" (the lecture's Parti slide, 350M -> 20B squirrels), at
seqgen's scale: text2pixel on shapes and on emoji at four sizes spanning ~30x in (non-embedding)
parameters, each trained on the same number of images (its dataset recipe's steps x batch), then
held-out bits per pixel-token, caption fidelity and one picture row per size for the same captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from seqgen.app.load import load_model
from seqgen.data.images.prepare import ImageDataConfig, prepare_images
from seqgen.data.subsets import spread
from seqgen.families.text2pixel.generate import draw
from seqgen.ladder.costs import Rung

# (n_layer, n_embd, n_head): head width 32 throughout; 12·L·d² = 98k, 332k, 786k, 2.65M (27x)
SIZES = ((2, 64, 2), (3, 96, 3), (4, 128, 4), (6, 192, 6))
QUICK_SIZES = ((1, 16, 1), (1, 32, 1), (2, 32, 1), (2, 48, 1))
DATASETS = {"shapes": "text2pixel_shapes", "emoji": "text2pixel_emoji"}
SQUIRREL = "a squirrel reaching for a nut"   # the lecture's caption; emoji's chipmunk left of a chestnut


def scaling_rungs(quick: bool) -> list[Rung]:
    pre = "ladder_quick/scaling_" if quick else "ladder/scaling_"
    out = []
    if quick:   # shapes only (emoji fetches its font on first use); four tiny sizes, 16 steps each
        tiny = ["data.n_train=240", "data.n_valid=24", "data.n_test=24", "trainer.max_steps=16", "trainer.batch_size=4",
                "trainer.eval_every=16", "trainer.log_every=8", "text2pixel.eval_images=8",
                "text2pixel.fidelity_images=0", "text2pixel.sample_images=2", "trainer.precision=fp32"]
        for n_layer, n_embd, n_head in QUICK_SIZES:
            out.append(Rung(f"{pre}shapes_{n_layer}x{n_embd}", f"text2pixel {n_layer}x{n_embd}", "scaling",
                            ["experiment=text2pixel_shapes", *tiny, f"model.n_layer={n_layer}",
                             f"model.n_embd={n_embd}", f"model.n_head={n_head}"],
                            evaluate={"images": 16, "fidelity_images": 4}))
        return out
    for name, experiment in DATASETS.items():
        for n_layer, n_embd, n_head in SIZES:
            out.append(Rung(f"{pre}{name}_{n_layer}x{n_embd}", f"text2pixel {n_layer}x{n_embd}", "scaling",
                            [f"experiment={experiment}", f"model.n_layer={n_layer}", f"model.n_embd={n_embd}",
                             f"model.n_head={n_head}"],
                            evaluate={"images": 500, "fidelity_images": 200} if name == "shapes" else
                            {"images": 200, "fidelity_images": 100}))
    return out


def _dataset(row: dict) -> str:
    return row["key"].split("scaling_")[-1].split("_")[0]


def _fidelity(row: dict):
    """Shapes: the mean attribute fidelity of the guided draws; emoji: single-glyph accuracy."""
    return row.get("fidelity", row.get("glyphs_single"))


def scaling_markdown(rows: list[dict]) -> list[str]:
    sc = [r for r in rows if r.get("corpus") == "scaling"]
    if not sc:
        return []
    lines = ["## Larger models attain better realism: text2pixel at four sizes", "",
             "Each size trained on the same images (the dataset recipe's steps × batch: "
             "`experiment=text2pixel_shapes` / `text2pixel_emoji` with only the shape changed). Held-out "
             "(test) bits per pixel-token; fidelity: shapes, the mean caption-attribute accuracy of guided "
             "draws of held-out captions; emoji, the share of one-glyph captions the glyph classifier reads right.", "",
             "| dataset | size | parameters | bits / pixel-token | fidelity | train time | command |",
             "|---|---|---|---|---|---|---|"]
    for r in sc:
        fid = "—" if _fidelity(r) is None else f"{_fidelity(r):.3f}"
        mins = "—" if r.get("train_seconds") is None else "{:.1f} min".format(r["train_seconds"] / 60)
        params = "—" if r.get("num_params") is None else f"{r['num_params']:,}"
        lines.append(f"| {_dataset(r)} | {r['label']} | {params} | {r['bits_per_pixel']:.4f} | {fid} | {mins} | "
                     f"`{r['command']}` |")
    lines.append("")
    for name in DATASETS:
        if any(_dataset(r) == name for r in sc):
            lines += [f"![text2pixel on {name}, one row per size](ladder_scaling_{name}.png)", ""]
    return lines


def scaling_claims(rows: list[dict]) -> list[str]:
    if not any(r.get("corpus") == "scaling" for r in rows):
        return ["- Larger models attain better realism (text2pixel at four sizes on shapes and emoji): **not "
                "measured yet** — `python scripts/ladder.py --only scaling`."]
    out = []
    for name in DATASETS:
        sc = [r for r in rows if r.get("corpus") == "scaling" and _dataset(r) == name]
        if len(sc) < 2:
            continue
        bits = [r["bits_per_pixel"] for r in sc]
        fid = [_fidelity(r) for r in sc]
        down = all(a > b for a, b in zip(bits, bits[1:]))
        up = None not in fid and all(a <= b for a, b in zip(fid, fid[1:]))
        verdict = "fall monotonically" if down else "do not fall monotonically"
        out.append(f"- Larger models attain better realism ({name}): held-out bits "
                   f"{' → '.join(f'{b:.4f}' for b in bits)} **{verdict}**"
                   + ("" if None in fid else f"; fidelity {' → '.join(f'{f:.3f}' for f in fid)} "
                      f"**{'rises' if up else 'does not rise monotonically'}**") + ".")
    return out


def scaling_figure(rows: list[dict], out_dir: Path, samples: int = 4) -> list[Path]:
    """One picture per dataset: a row per size, the same captions (shapes: held-out test captions;
    emoji: the squirrel) drawn with the same seed."""
    sc = [r for r in rows if r.get("corpus") == "scaling" and Path(r.get("ckpt", "")).is_file()]
    if not sc:
        return []
    written = []
    for name in DATASETS:
        mine = [r for r in sc if _dataset(r) == name]
        if not mine:
            continue
        fig = Figure(figsize=(1.5 * samples + 2, 1.5 * len(mine)))
        axes = fig.subplots(len(mine), samples, squeeze=False)
        for i, r in enumerate(mine):
            model, tok, state = load_model(r["ckpt"])
            cfg = state["config"]
            data = prepare_images(ImageDataConfig(**cfg["data"]), cfg["data_root"], verbose=False)
            if name == "shapes":
                caps = data.captions("test")
                texts = [caps[j][0] for j in spread(len(caps), samples)]
            else:
                texts = [SQUIRREL] * samples
            guidance = (cfg.get("text2pixel") or {}).get("guidance")
            grids = draw(model, tok, texts, data.caption_len, "cpu", guidance, seed=0, strict=False)
            for c in range(samples):
                ax = axes[i][c]
                ax.imshow(data.codec.dequantize(np.asarray(grids[c])), interpolation="nearest")
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_title(texts[c][:28], fontsize=6)
            axes[i][0].set_ylabel(f"{r['label'].split()[-1]}\n{r.get('num_params', 0) / 1e6:.2f}M",
                                  fontsize=7, rotation=0, ha="right", va="center")
        fig.tight_layout()
        path = Path(out_dir) / f"ladder_scaling_{name}.png"
        fig.savefig(path, dpi=90)
        written.append(path)
    return written


def params_of(ckpt) -> int:
    """Parameters of a checkpoint's model (the table's size column)."""
    model, _, _ = load_model(ckpt)
    return int(sum(p.numel() for p in model.parameters()))
