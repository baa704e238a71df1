"""The lecture's ladder, measured: counts, embeddings, attention on the same held-out text, and the
pixel models beside their count and interpolation baselines, in the units of seqgen/assess.py.

Every rung is an ordinary training run (`scripts/train.py` overrides) followed by
`evaluate_checkpoint`; a rung whose run directory already holds a finished checkpoint is evaluated
without retraining, so the ladder reuses the experiments' own runs and a rerun only fills the gaps.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from seqgen.app.cli import compose
from seqgen.app.evaluate import evaluate
from seqgen.app.train import resolve, train
from seqgen.core import checkpoint as ckpt
from seqgen.ladder.costs import Rung, cost_file, read_cost
from seqgen.ladder.scaling import params_of, scaling_rungs
from seqgen.ladder.text import TEXT_DATA, hybrid_rows, score_text_rung, short, text_rungs

CHAR_DATA = ["data=shakespeare_char"]
WORD_DATA = ["data=shakespeare_words"]


def rungs(quick: bool) -> list[Rung]:
    """The ladder. Full: the documented CPU recipes; quick: the same rungs, tiny, for CI."""
    pre = "ladder_quick/" if quick else "ladder/"
    models = _quick_rungs(pre) if quick else _full_rungs(pre)
    return _ngram_rungs(pre, quick) + models + text_rungs(quick) + scaling_rungs(quick)


def _ngram_rungs(pre: str, quick: bool) -> list[Rung]:
    """Kneser-Ney at orders 1, 2, 3, 5 on characters and words: the count baselines."""
    out = []
    for corpus in ("chars", "words"):
        for n, name in ((1, "unigram"), (2, "bigram"), (3, "3-gram"), (5, "5-gram")):
            out.append(Rung(f"{pre}{corpus}_ngram{n}", f"{name} Kneser-Ney", corpus,
                            ["model=ngram", f"model.order={n}", "model.blank_lines=true"], baseline=True,
                            evaluate={"max_tokens": 20000} if quick else {}))
    return out


def _quick_rungs(pre: str) -> list[Rung]:
    """The neural and pixel rungs, tiny (CI: seconds each)."""
    tiny = ["model=gpt", "model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.block_size=32",
            "model.dropout=0.0", "trainer.max_steps=60", "trainer.batch_size=8", "trainer.eval_every=30",
            "trainer.eval_batches=4", "trainer.log_every=20", "trainer.sample_tokens=20"]
    few = {"max_tokens": 20000}
    out = [Rung(f"{pre}chars_gpt_small", "GPT 2x32", "chars", tiny, evaluate=few),
           Rung(f"{pre}chars_gpt_large", "GPT 2x48", "chars", tiny + ["model.n_embd=48"], evaluate=few),
           Rung(f"{pre}words_word2vec", "word2vec (skip-gram)", "words",
                ["model=word2vec", "model.vector_size=32", "model.epochs=1", "model.min_count=1",
                 "model.eval_sets=false"], evaluate={"eval_sets": False}),
           Rung(f"{pre}words_gpt", "GPT 2x32", "words", tiny, evaluate=few),
           Rung(f"{pre}words_gpt_w2v", "GPT 2x32, word2vec init", "words", tiny, init_from=f"{pre}words_word2vec",
                evaluate=few)]
    shapes = ["data=shapes", "data.n_train=240", "data.n_valid=24", "data.n_test=24"]
    out += [Rung(f"{pre}text2pixel", "text2pixel", "pixels",
                 ["experiment=text2pixel_shapes", *shapes, "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
                  "trainer.max_steps=20", "trainer.batch_size=4", "trainer.eval_every=20", "trainer.log_every=10",
                  "text2pixel.eval_images=8", "text2pixel.fidelity_images=0", "text2pixel.sample_images=2"],
                 evaluate={"images": 16, "fidelity_images": 2}),
            Rung(f"{pre}upsampler", "upsampler", "pixels",
                 ["experiment=upsampler_shapes", *shapes, "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
                  "trainer.max_steps=20", "trainer.batch_size=2", "upsampler.blocks_per_image=16",
                  "trainer.eval_every=20", "trainer.log_every=10", "upsampler.eval_images=2",
                  "upsampler.sample_images=2", "upsampler.retries=1"], evaluate={"images": 2}),
            Rung(f"{pre}visual_prompt", "visual prompting", "pixels",
                 ["experiment=visual_prompt_shapes", "trainer.max_steps=4", "trainer.eval_every=4",
                  "trainer.sample_every=0", "trainer.batch_size=2", "model.n_layer=1", "model.n_embd=32",
                  "model.n_head=2", "data.n_valid=4", "data.n_test=2", "visual_prompt.eval_sentences=4",
                  "visual_prompt.score_sentences=1"],
                 evaluate={"sentences": 2, "canvas": False, "compositions": False, "unseen": False})]
    return out


def _full_rungs(pre: str) -> list[Rung]:
    """The neural and pixel rungs: the documented CPU recipes."""
    w2v_dim = 128
    words_gpt = ["model=gpt", "model.n_layer=4", "model.n_head=4", f"model.n_embd={w2v_dim}", "model.block_size=64",
                 "model.dropout=0.1", "optim.lr=1e-3", "optim.min_lr=1e-4", "optim.warmup_steps=200",
                 "trainer.max_steps=2000", "trainer.batch_size=16", "trainer.eval_every=500",
                 "trainer.eval_batches=50", "trainer.log_every=100", "trainer.sample_tokens=100"]
    return [Rung("gpt_shakespeare_char_cpu", "GPT 4x128, context 64 (nanoGPT's CPU recipe)", "chars",
                 ["experiment=gpt_shakespeare_char_cpu"]),
            Rung(f"{pre}chars_gpt_large", "GPT 4x192, context 128", "chars",
                 ["experiment=gpt_shakespeare_char_cpu", "model.block_size=128", "model.n_head=6", "model.n_embd=192",
                  "model.dropout=0.1", "trainer.batch_size=16", "trainer.max_steps=2500", "optim.lr=1.5e-3",
                  "trainer.eval_every=500", "trainer.eval_batches=50"]),
            Rung(f"{pre}words_word2vec", f"word2vec skip-gram, {w2v_dim} dims", "words",
                 ["model=word2vec", f"model.vector_size={w2v_dim}", "model.epochs=5"]),
            Rung(f"{pre}words_gpt", f"GPT 4x{w2v_dim}", "words", words_gpt),
            Rung(f"{pre}words_gpt_w2v", f"GPT 4x{w2v_dim}, word2vec-initialised embeddings", "words", words_gpt,
                 init_from=f"{pre}words_word2vec"),
            # the pixel ladder: pixel n-gram (beside each text2pixel row) -> p=1 -> p=2 -> + guidance
            Rung("text2pixel_shapes_p1", "text2pixel 4x128, one pixel per step (p=1)", "pixels",
                 ["experiment=text2pixel_shapes_p1"],
                 evaluate={"images": 500, "fidelity_images": 200, "guidance": 3.0}),
            Rung("text2pixel_shapes", "text2pixel 5x160, 2x2 patches (p=2)", "pixels",
                 ["experiment=text2pixel_shapes"],
                 evaluate={"images": 500, "fidelity_images": 200, "guidance": 2.0}),
            Rung("upsampler_shapes", "upsampler conv 6x64", "pixels", ["experiment=upsampler_shapes"],
                 evaluate={"images": 32}),
            Rung("visual_prompt_shapes", "visual prompting 4x128, 4x4-pixel patches", "pixels",
                 ["experiment=visual_prompt_shapes"], evaluate={"sentences": 50})]


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _finished(run_dir: Path, max_steps: int, fitted: bool) -> dict | None:
    """The run's last checkpoint if it is complete: any for a fitted model, at max_steps otherwise."""
    last = run_dir / "checkpoints" / "last.pt"
    if not last.is_file():
        return None
    state = ckpt.load(last)
    return state if (fitted or state["step"] >= max_steps) else None


def seconds_from_metrics(path: Path) -> float | None:
    """Training wall time of a run from its metrics.jsonl timestamps (checkpoints from before
    `train_seconds` was recorded): last record - first record + the first logged interval."""
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    timed = [r for r in rows if "ms_per_step" in r]
    if len(timed) < 2:
        return None
    return rows[-1]["time"] - timed[0]["time"] + timed[0]["ms_per_step"] * timed[0]["step"] / 1000


def rung_overrides(rung: Rung, data: dict, out_root) -> list[str]:
    """train.py's overrides for a rung (without out_root / data_root)."""
    out = [*data.get(rung.corpus, []), *rung.overrides, f"run_name={rung.key}"]
    if rung.init_from:
        out.append(f"init_embeddings={Path(out_root) / rung.init_from / 'checkpoints' / 'last.pt'}")
    return out


def rung_command(rung: Rung, data: dict, out_root="outputs") -> str:
    return "python scripts/train.py " + " ".join(rung_overrides(rung, data, out_root))


def run_rung(rung: Rung, data: dict, out_root: Path, data_root: str, quick: bool, log=print) -> dict:
    """Train (unless already finished) and evaluate one rung -> a row of figures."""
    overrides = [*rung_overrides(rung, data, out_root), f"out_root={out_root}", f"data_root={data_root}"]
    cfg = compose(overrides)
    spec, fam = resolve(cfg)
    run_dir = out_root / rung.key
    fitted = fam.fit is not None
    state = _finished(run_dir, spec.trainer.max_steps, fitted)
    t0 = time.perf_counter()
    if state is None:
        log(f"[ladder] training {rung.key}: {' '.join(rung.overrides)}")
        cpu0 = _cpu_seconds()
        train(cfg)
        state = _finished(run_dir, spec.trainer.max_steps, fitted)
        # the process's CPU time of the fit (every thread), kept beside the run for later reruns
        cost_file(run_dir).write_text(json.dumps({"cpu_seconds": _cpu_seconds() - cpu0,
                                                  "wall_seconds": time.perf_counter() - t0}))
    else:
        log(f"[ladder] {rung.key}: finished checkpoint found, evaluating it")
    seconds = (state.get("train_seconds") or state.get("metrics", {}).get("fit_seconds")
               or seconds_from_metrics(run_dir / "metrics.jsonl"))
    row = {"key": rung.key, "label": rung.label, "corpus": rung.corpus, "train_seconds": seconds,
           "cpu_seconds": read_cost(run_dir).get("cpu_seconds"), "ckpt": str(run_dir / "checkpoints" / "last.pt"),
           "command": rung_command(rung, data, out_root), "model_name": spec.model_name, "baseline": rung.baseline}
    row.update(evaluate({"ckpt": str(run_dir / "checkpoints" / "last.pt"), "data_root": data_root, **rung.evaluate}))
    row["wall_seconds"] = time.perf_counter() - t0
    log(f"[ladder] {rung.key}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float)))
    return row


def run_ladder(out_root, data_root, quick: bool = False, only=None, data: dict | None = None, log=print,
               pick=None, cached: bool = False) -> list:
    """Every rung in order -> rows. `data` maps corpus -> dataset overrides (default: the
    tiny-shakespeare characters, Open Shakespeare words, wordmix for the text ladder); `only` picks
    corpora, `pick` rungs by name (the key's last part, e.g. wordmix_gpt or gpt; hybrids too:
    gpt+infgram, gpt+kn5, infgram+kn5_bpe); `cached` reuses a finished rung's saved figures
    (<run>/ladder_row.json, written after each evaluation) when they are newer than its checkpoint."""
    data = {"chars": CHAR_DATA, "words": WORD_DATA, "text": TEXT_DATA, **(data or {})}
    rows, cache = [], {}
    for rung in rungs(quick):
        if (only and rung.corpus not in only) or (pick and not {rung.key.split("/")[-1], short(rung.key)} & set(pick)):
            continue
        saved = Path(out_root) / rung.key / "ladder_row.json"
        ckpt = Path(out_root) / rung.key / "checkpoints" / "last.pt"
        if cached and saved.is_file() and ckpt.is_file() and saved.stat().st_mtime >= ckpt.stat().st_mtime:
            log(f"[ladder] {rung.key}: figures of the finished checkpoint reused ({saved})")
            rows.append(json.loads(saved.read_text(encoding="utf-8")))
            continue
        row = run_rung(rung, data, Path(out_root), str(data_root), quick, log)
        if rung.corpus == "scaling":
            row["num_params"] = params_of(row["ckpt"])
        if rung.corpus == "text" and "bpc" in row:
            score_text_rung(rung, row, str(data_root), cache)
            log(f"[ladder] {rung.key}: {row['bits_per_byte']:.4f} bits per byte, word perplexity {row['word_ppl']:.1f}")
        saved.write_text(json.dumps(row, default=str), encoding="utf-8")
        rows.append(row)
    if any(r["corpus"] == "text" for r in rows):
        rows += hybrid_rows(rows, str(data_root), quick, log, pick)
    return rows
