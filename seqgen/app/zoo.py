"""The model zoo: one row per recipe (family, data, size, CPU training time, held-out figure, sha256 of the
weights, the command), and `run(row)`, which trains the recipe, writes its pretrained folder and checks
the figure against the row. scripts/zoo.py is the command line; the README's zoo table is `table()`.

A row's figure and sha256 are what a run of its recipe measured on the machine named in `MACHINE`
(None: not trained yet, the row only names the recipe). Training is seeded, so the same machine gives
the same weights bit for bit; another CPU's float kernels may differ in the last bits, so the check is
the figure within the row's tolerance and a different sha256 is reported, not failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from seqgen.app import hub
from seqgen.app.cli import compose
from seqgen.app.load import load_state
from seqgen.app.pretrained import save_pretrained
from seqgen.app.train import train
from seqgen.core.errors import ConfigError

MACHINE = "2-core Intel Xeon (AVX-512; shared with other jobs), torch 2.13 CPU"


@dataclass(frozen=True)
class Row:
    name: str                  # the pretrained folder's (and Hub repo's) name
    family: str
    data: str
    overrides: tuple           # scripts/train.py arguments
    metric: str                # a key of the family's evaluate() figures
    value: float | None = None           # measured (None: not trained yet)
    tolerance: float = 0.02              # relative
    params: int | None = None            # numbers in model.safetensors
    cpu_seconds: float | None = None     # training / fitting time measured with the row
    sha256: str | None = None            # of model.safetensors
    note: str = ""

    @property
    def command(self) -> str:
        return "python scripts/train.py " + " ".join(self.overrides)


ROWS = (
    Row("ngram-shakespeare-char-6", "ngram", "tiny-shakespeare characters", ("experiment=ngram_shakespeare_char",),
        "bpc", 2.30855377798101, 0.001, 902215, 1.18,
        "780f13a4130de6033e30fafcdad1ce94e5cc297dcacd9070d66240db59a7716e"),
    Row("ngram-shakespeare-words-3", "ngram", "Open Shakespeare words", ("experiment=ngram_shakespeare_words",),
        "ppl", 103.39481026871648, 0.001, 2095026, 2.46,
        "aa67c4f61c973bfb6098c7cc3c56c7c0e887d534d9b60513f57e1a388b9c2b34"),
    Row("gpt-shakespeare-char-cpu-1k", "gpt", "tiny-shakespeare characters",
        ("experiment=gpt_shakespeare_char_cpu", "trainer.max_steps=1000", "run_name=gpt_shakespeare_char_cpu_1k"),
        "bpc", 2.7486920085382227, 0.01, 795904, 476.4,
        "fdb129d2902b18066fe5f9e26d5932313ca982bd4c15023bc666424e3ae4e8ff",
        note="on a machine shared with six other jobs; not measured idle"),
    Row("video-pendulum", "video_texture", "generated pendulum (120 frames)", ("experiment=video_pendulum",),
        "jumps_per_100", 32.44, 0.001, 3781037, 0.37,
        "d73e197979f2272ba6eafabea82e279226c3f6d1334aeb5961a0eb01a9ad52d9"),
    Row("gpt-shakespeare-char-cpu", "gpt", "tiny-shakespeare characters", ("experiment=gpt_shakespeare_char_cpu",),
        "bpc", 2.4541593261007355, 0.01, 795904, 115.5,
        "50c930700e30414ec15b8a8fabd452d9c3c9f0d7ce79a5ad591925c42efa9e98", note="the quick start's recipe"),
    Row("gpt-shakespeare-words", "gpt", "Open Shakespeare words", ("experiment=gpt_shakespeare_words",),
        "ppl", note="not trained this session (19 min)"),
    Row("word2vec-shakespeare", "word2vec", "Open Shakespeare words", ("experiment=word2vec_shakespeare",),
        "analogy_add", 0.05144124168514413, 0.1, 1735032, 7.0,
        "727d11885ae7db04346b613286ea863616445aac662b2548168eea4d0a93470f"),
    Row("text2pixel-shapes", "text2pixel", "shapes", ("experiment=text2pixel_shapes",), "bits_per_pixel",
        note="not trained this session (60 min)"),
    Row("upsampler-shapes", "upsampler", "shapes", ("experiment=upsampler_shapes",), "bits_per_token",
        note="not trained this session (43 min)"),
    Row("visual-prompt-shapes", "visual_prompt", "visual sentences (shapes)", ("experiment=visual_prompt_shapes",),
        "mean/2shot/exact", note="not trained this session (49 min)"),
)


def get(name: str) -> Row:
    for row in ROWS:
        if row.name == name:
            return row
    raise ConfigError(f"no zoo row {name!r}; rows: {[r.name for r in ROWS]}")


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


def table() -> str:
    """The README's zoo table (markdown)."""
    head = ("| model | family | data | numbers | CPU time | held-out figure | sha256 (model.safetensors) "
            "| reproduce |\n|---|---|---|---|---|---|---|---|")
    rows = []
    for r in ROWS:
        figure = f"{r.metric} {_fmt(r.value)}" if r.value is not None else f"{r.metric}: {r.note or 'not measured'}"
        t = "—" if r.cpu_seconds is None else f"{r.cpu_seconds:.1f} s" if r.cpu_seconds < 120 \
            else f"{r.cpu_seconds / 60:.1f} min"
        if r.value is not None and r.note:
            t += f" ({r.note})"
        sha = f"`{r.sha256[:16]}…`" if r.sha256 else "—"
        rows.append(f"| {r.name} | {r.family} | {r.data} | {_fmt(r.params)} | {t} | {figure} | {sha} | "
                    f"`python scripts/zoo.py row={r.name}` |")
    return "\n".join([head, *rows])


def run(row: Row, out_root: str = "outputs", data_root: str = "data", out: str | None = None,
        push_to_hub: str | None = None) -> dict:
    """Train the row's recipe (or reuse its finished run), write its pretrained folder, evaluate, and
    compare with the row -> a result dict with ok (the figure within tolerance; True when the row has no
    figure yet)."""
    t0 = time.perf_counter()
    result = train(compose([*row.overrides, f"out_root={out_root}", f"data_root={data_root}"]))
    ckpt = Path(result["checkpoint"])
    folder = save_pretrained(ckpt, out or Path(out_root) / "zoo" / row.name, data_root=data_root,
                             command=row.command)
    config = json.loads((folder / "config.json").read_text())
    state = load_state(ckpt)
    figure = (config.get("evaluation") or {}).get(row.metric)
    if figure is None:
        raise ConfigError(f"zoo row {row.name}: evaluation gave no {row.metric!r} "
                          f"(got {sorted(config.get('evaluation') or {})})")
    ok = row.value is None or abs(figure - row.value) <= row.tolerance * abs(row.value)
    seconds = state.get("train_seconds") or (state.get("metrics") or {}).get("fit_seconds")
    out = {"row": row.name, "metric": row.metric, "value": figure, "expected": row.value, "ok": ok,
           "sha256": config["weights_sha256"], "sha256_matches": row.sha256 == config["weights_sha256"],
           "params": config["num_params"], "train_seconds": seconds, "folder": str(folder),
           "wall_seconds": time.perf_counter() - t0}
    if push_to_hub:
        out["pushed"] = hub.push(folder, push_to_hub)
    return out


def rows_as_json() -> list[dict]:
    return [asdict(r) for r in ROWS]
