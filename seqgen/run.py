"""train(cfg) / sample(cfg): the only module that reads the whole config tree.

Turns the composed config into typed pieces once, wires data, model, optimizer, tracker and trainer
together, and owns the run directory: config.yaml, metrics.jsonl, tokenizer.json, checkpoints/,
samples/. No math and no batch loops here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgen.core import checkpoint as ckpt
from seqgen.core import distributed as D
from seqgen.config import ConfigError, RunSpec, parse, run_dir_for
from seqgen.data.prepare import load_prepared, prepare, prepared_dir
from seqgen.data.text import TextBatches
from seqgen.evaluation import evaluate_lm
from seqgen.models import build_model, get_model_class
from seqgen.core.optim import build_optimizer
from seqgen.sampling import generate
from seqgen.data.tokenizer import Tokenizer
from seqgen.core.tracking import NullTracker, Tracker
from seqgen.core.trainer import Trainer


def _load_data(spec: RunSpec, dist: D.DistInfo):
    """Rank 0 prepares (once, cached); the others wait and read the same files."""
    if dist.is_main:
        data = prepare(spec.data, spec.data_root)
    D.barrier()
    if not dist.is_main:
        data = load_prepared(prepared_dir(spec.data, spec.data_root))
    return data


def _resume_state(spec: RunSpec, ckpt_dir: Path):
    mode = spec.trainer.resume
    if mode == "never":
        if ckpt.latest(ckpt_dir) is not None:
            raise ConfigError(f"{ckpt_dir} already holds checkpoints and trainer.resume=never: pick "
                              f"another run_name, delete that folder, or pass trainer.resume=auto")
        return None
    path = ckpt.latest(ckpt_dir) if mode == "auto" else Path(mode)
    if path is None:
        return None
    state = ckpt.load(path)
    check_same_model(spec, state, path)
    print(f"[seqgen] resuming from {path} (step {state['step']})", flush=True)
    return state


def check_same_model(spec: RunSpec, state: dict, path):
    """A run folder holds one model: refuse a different one rather than overwrite its checkpoints."""
    if state["model_name"] != spec.model_name:
        raise ConfigError(f"checkpoint {path} holds a '{state['model_name']}' model, the config asks for "
                          f"'{spec.model_name}'")
    wanted = {**state["model_config"], **spec.model}
    changed = {k: (state["model_config"][k], v) for k, v in wanted.items() if state["model_config"].get(k) != v}
    if changed:
        raise ConfigError(f"checkpoint {path} was made with a different model: "
                          + ", ".join(f"model.{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
                          + ". Use another run_name to start a new run.")


def train(cfg) -> dict:
    """Train (or fit) the configured model; returns {'run_dir', 'checkpoint', 'step', 'metrics', 'model'}."""
    spec = parse(cfg)
    dist = D.setup(spec.trainer.device)
    try:
        return _train(spec, dist)
    finally:
        D.cleanup()


def _train(spec: RunSpec, dist: D.DistInfo) -> dict:
    from omegaconf import OmegaConf

    if spec.trainer.threads:
        torch.set_num_threads(spec.trainer.threads)
    run_dir = Path(D.broadcast_object(str(run_dir_for(spec).resolve())))
    ckpt_dir = run_dir / "checkpoints"
    cls = get_model_class(spec.model_name)
    if not getattr(cls, "trainable", True):
        from seqgen.fitting import fit_counts

        return fit_counts(spec, dist, run_dir)
    state = _resume_state(spec, ckpt_dir)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(spec.plain), run_dir / "config.yaml")
        print(f"[seqgen] run dir: {run_dir}", flush=True)
    wandb_id = state.get("tracker", {}).get("wandb_id") if state else None
    tracker = Tracker(run_dir, spec.logger, spec.plain, spec.run_name, wandb_id) if dist.is_main else NullTracker()
    try:
        if getattr(cls, "task", "text") == "pixels":
            from seqgen.pixel_run import pixel_task

            task = pixel_task(spec, dist, run_dir, tracker, resumed=state is not None)
        elif getattr(cls, "task", "text") == "upsample":
            from seqgen.upsample_run import upsample_task

            task = upsample_task(spec, dist, run_dir, tracker, resumed=state is not None)
        else:
            task = _text_task(spec, dist, run_dir, tracker, resumed=state is not None)
        return _fit(spec, dist, run_dir, state, tracker, task)
    finally:
        tracker.finish()


@dataclass
class Task:
    """What a model family brings to the shared training wiring."""

    model: torch.nn.Module
    stream: object                 # next() / state_dict() / load_state_dict()
    evaluate_fn: object            # (model, final) -> metrics dict; final at max_steps
    sample_fn: object              # (model, step) -> None, writes samples/
    ckpt_extra: dict               # extra checkpoint keys (tokenizer JSON, palette, ...)


def _text_task(spec: RunSpec, dist: D.DistInfo, run_dir: Path, tracker, resumed: bool) -> Task:
    data = _load_data(spec, dist)
    if dist.is_main:
        data.tokenizer.save(run_dir / "tokenizer.json")
    torch.manual_seed(spec.seed)  # same initial weights on every rank
    model = build_model(spec.model_name, spec.model, vocab_size=data.tokenizer.vocab_size).to(dist.device)
    if spec.init_embeddings and not resumed:
        init_embeddings_from_word2vec(model, data.tokenizer, spec.init_embeddings, dist.is_main)
    block = model.config.block_size
    stream = TextBatches(data.tokens("train"), block, spec.trainer.batch_size, spec.seed + 1000 * dist.rank + 1)
    valid = data.tokens("valid")

    def evaluate_fn(m, final=False):
        return evaluate_lm(m, valid, block, spec.trainer.batch_size, dist.device,
                           spec.trainer.eval_batches, data.chars_per_token("valid"), prefix="val")

    samples_dir = run_dir / "samples"
    # a prompt that the tokenizer drops (e.g. "\n" for whitespace-split words) falls back to the
    # first validation token, so the end-of-training sample never fails
    prompt = spec.trainer.sample_prompt
    if not data.tokenizer.encode(prompt):
        prompt = data.tokenizer.decode([int(valid[0])])

    def sample_fn(m, step_):
        text = sample_text(m, data.tokenizer, prompt, spec.trainer.sample_tokens,
                           seed=spec.seed, device=dist.device)
        samples_dir.mkdir(exist_ok=True)
        (samples_dir / f"step_{step_:07d}.txt").write_text(text, encoding="utf-8")
        tracker.log_text("samples", text, step_)

    return Task(model, stream, evaluate_fn, sample_fn, {"tokenizer": data.tokenizer.to_json()})


def _fit(spec: RunSpec, dist: D.DistInfo, run_dir: Path, state, tracker, task: Task) -> dict:
    """The part every gradient-trained model shares: optimizer, exact resume, checkpoints, the loop."""
    model, stream = task.model, task.stream
    ckpt_dir = run_dir / "checkpoints"
    optimizer = build_optimizer(model, spec.optim, dist.device)
    torch.manual_seed(spec.seed + dist.rank)  # dropout noise differs per rank
    step, train_seconds = 0, 0.0
    if state is not None:
        train_seconds = float(state.get("train_seconds", 0.0))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        rng = state["rng"]
        if len(rng) != dist.world_size:
            print(f"[seqgen] checkpoint has RNG state for {len(rng)} processes, running {dist.world_size}: "
                  f"data order restarts from new seeds", flush=True)
        else:
            torch.set_rng_state(rng[dist.rank]["torch"])
            stream.load_state_dict(rng[dist.rank]["data"])
            if torch.cuda.is_available() and rng[dist.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rng[dist.rank]["cuda"])
    if dist.is_main:
        print(f"[seqgen] {spec.model_name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
              f"device {dist.device}", flush=True)

    def save_fn(trainer: Trainer):
        rng = D.all_gather_object({"torch": torch.get_rng_state(), "data": stream.state_dict(),
                                   "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None})
        if dist.is_main:
            path = ckpt.save({"model_name": spec.model_name, "model_config": model.config.__dict__.copy(),
                              **task.ckpt_extra, "model": model.state_dict(),
                              "optimizer": optimizer.state_dict(), "step": trainer.step, "rng": rng,
                              "train_seconds": trainer.train_seconds,
                              "tracker": {"wandb_id": tracker.wandb_id}, "metrics": trainer.last_eval,
                              "config": spec.plain}, ckpt.step_path(ckpt_dir, trainer.step))
            link_last(path)
            ckpt.prune(ckpt_dir, spec.trainer.keep_last)
        D.barrier()

    trainer = Trainer(spec.trainer, spec.optim, model, optimizer, stream, dist, tracker,
                      evaluate_fn=task.evaluate_fn, sample_fn=task.sample_fn, save_fn=save_fn, step=step,
                      train_seconds=train_seconds)
    metrics = trainer.fit()
    last = ckpt_dir / "last.pt"
    samples_dir = run_dir / "samples"
    if dist.is_main:
        print(f"[seqgen] checkpoint: {last}", flush=True)
        if samples_dir.is_dir():
            print(f"[seqgen] samples:    {samples_dir}", flush=True)
    return {"run_dir": run_dir, "checkpoint": last, "step": trainer.step, "metrics": metrics, "model": model}


def init_embeddings_from_word2vec(model, tokenizer: Tokenizer, path, verbose: bool = True) -> int:
    """Copy word2vec vectors into the rows of model.wte whose token is in the word2vec vocabulary.

    The vectors are rescaled to the embedding's init std, so the rest of the network starts as usual.
    Returns how many rows were set.
    """
    from seqgen.models.word2vec import Word2Vec

    state = ckpt.load(path)
    if state["model_name"] != "word2vec":
        raise ConfigError(f"init_embeddings={path} holds a '{state['model_name']}' model, not word2vec")
    if tokenizer.kind != "word":
        raise ConfigError("init_embeddings needs a word tokenizer (data.tokenizer=word)")
    w2v = Word2Vec.from_state(Word2Vec.Config(**state["model_config"]), state["model"])
    wte = model.wte.weight
    if w2v.vectors.shape[1] != wte.shape[1]:
        raise ConfigError(f"init_embeddings: word2vec vectors have {w2v.vectors.shape[1]} dimensions, the "
                          f"model's embeddings {wte.shape[1]}: set model.n_embd={w2v.vectors.shape[1]} or retrain")
    rows = [(i, w2v.index[w]) for i, w in enumerate(tokenizer.itos) if w in w2v.index]
    if not rows:
        raise ConfigError(f"init_embeddings: no token of this tokenizer is in {path}'s vocabulary")
    src = w2v.vectors[[j for _, j in rows]]
    with torch.no_grad():
        wte[[i for i, _ in rows]] = (src / src.std() * wte.std()).to(wte.dtype)
    if verbose:
        print(f"[seqgen] init_embeddings: {len(rows):,} of {len(tokenizer.itos):,} token embeddings from {path}",
              flush=True)
    return len(rows)


def link_last(path: Path):
    """Point last.pt at the newest step file (a hard link, swapped in atomically; a copy if links fail)."""
    tmp = path.with_name("last.pt.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        import shutil

        shutil.copyfile(path, tmp)
    os.replace(tmp, path.with_name("last.pt"))


def sample_text(model, tokenizer: Tokenizer, prompt: str, max_new_tokens: int, seed: int, device,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                num_samples: int = 1, use_cache: bool = True) -> str | list[str]:
    """Encode prompt, generate with a seeded generator, decode. One string, or a list if num_samples > 1."""
    ids = tokenizer.encode(prompt) if prompt else []
    if not ids:
        raise ValueError("the prompt encodes to no tokens; give a non-empty prompt (e.g. prompt='\\n')")
    idx = torch.tensor([ids] * num_samples, dtype=torch.long, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = generate(model, idx, max_new_tokens, temperature, top_k, top_p, generator=gen, use_cache=use_cache)
    texts = [tokenizer.decode(row.tolist()) for row in out]
    return texts[0] if num_samples == 1 else texts


def ngram_text(model, tokenizer: Tokenizer, prompt: str, max_new_tokens: int, seed: int,
               temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> str:
    """Shannon's game: sample tokens from the full next-token distribution; </s> starts a new line.

    The prompt's last line is the context (after <s>); <unk> is never drawn.
    """
    import math

    from seqgen.models.ngram import next_log10probs
    from seqgen.sampling import sample_next

    bos, eos, unk = model._specials()
    gen = torch.Generator().manual_seed(seed)
    ctx = [bos] + tokenizer.encode(prompt.split("\n")[-1])
    lines, current = [], []
    for _ in range(max_new_tokens):
        logits = torch.from_numpy(next_log10probs(model, [ctx]) * math.log(10))
        logits[:, unk] = float("-inf")
        nxt = int(sample_next(logits, temperature, top_k, top_p, gen))
        if nxt == eos:
            lines.append(tokenizer.decode(current))
            ctx, current = [bos], []
        else:
            ctx.append(nxt)
            current.append(nxt)
    lines.append(tokenizer.decode(current))
    joiner = " " if tokenizer.kind == "word" and prompt and not prompt.endswith((" ", "\n")) else ""
    return prompt + joiner + "\n".join(lines)


def word_query(model, prompt: str, k: int = 10) -> str:
    """word2vec from sample.py: "king" -> nearest neighbours; "king - man + woman" -> an analogy."""
    from seqgen.evaluation import nearest

    tokens = prompt.replace("+", " + ").replace("-", " - ").split()
    if not tokens:
        raise ValueError('prompt must name a word, e.g. prompt=king or prompt="king - man + woman"')
    positive, negative, sign = [], [], 1
    for t in tokens:
        if t in "+-":
            sign = 1 if t == "+" else -1
        else:
            (positive if sign > 0 else negative).append(t.lower() if model.vocab and t not in model.index else t)
            sign = 1
    rows = nearest(model.vocab, model.vectors, positive, negative, k)
    return f"{prompt}\n" + "\n".join(f"  {w:<20} {s:.4f}" for w, s in rows)


def load_model(path, device="cpu"):
    """Rebuild (model, tokenizer, checkpoint state) from a checkpoint file alone."""
    state = ckpt.load(path, map_location=device)
    params = dict(state["model_config"])
    if state["model_name"] == "ngram":
        from seqgen.models.ngram import NGram
        from seqgen.models.ngram_io import from_state

        return from_state(NGram.Config(**params), state["model"]), Tokenizer.from_json(state["tokenizer"]), state
    if state["model_name"] == "word2vec":
        from seqgen.models.word2vec import Word2Vec

        model = Word2Vec.from_state(Word2Vec.Config(**params), state["model"])
        return model, Tokenizer.from_json(state["tokenizer"]), state
    model = build_model(state["model_name"], params)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, Tokenizer.from_json(state["tokenizer"]) if state.get("tokenizer") else None, state


@dataclass
class SampleConfig:
    ckpt: str | None = None
    prompt: str = "\n"
    num_samples: int = 1
    max_new_tokens: int = 500
    temperature: float = 0.8
    top_k: int | None = 200
    top_p: float | None = None
    seed: int = 1337
    device: str = "auto"        # auto | cpu | cuda
    use_cache: bool = True
    out: str | None = None      # text file (PNG for images); default <run_dir>/samples/sample_seed<seed>.txt
    guidance: float | None = 3.0  # images: classifier-free guidance scale (null: plain conditional)
    upsampler_ckpt: str | None = None  # images: also upsample the drawn 32x32 images 4x with this checkpoint
    image: str | None = None    # upsampler ckpt: a low-res PNG to upsample
    retries: int = 3            # upsampler: redraws of a block the 4x rule does not map back
    digits: bool = False        # images: also write the digit-grid text view
    scale: int = 4              # images: PNG pixels per token


def sample(cfg) -> dict:
    """Load a checkpoint, generate num_samples continuations of prompt, print and save them."""
    from seqgen.config import build, to_plain

    sc = build(SampleConfig, to_plain(cfg), "sample")
    if not sc.ckpt:
        raise ConfigError("ckpt is required: python scripts/sample.py ckpt=outputs/<run>/checkpoints/last.pt")
    device = torch.device("cuda" if sc.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if sc.device == "auto" else sc.device))
    model, tokenizer, state = load_model(sc.ckpt, device)
    if getattr(model, "task", "text") == "pixels":
        from seqgen.pipeline import draw_and_upsample

        return draw_and_upsample(sc, model, tokenizer, state, device)
    if getattr(model, "task", "text") == "upsample":
        from seqgen.pipeline import upsample_file

        return upsample_file(sc, model, state, device)
    if state["model_name"] == "word2vec":
        texts = [word_query(model, sc.prompt, k=sc.top_k or 10)]
    elif state["model_name"] == "ngram":
        texts = [ngram_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed + i, sc.temperature,
                            sc.top_k, sc.top_p) for i in range(sc.num_samples)]
    else:
        texts = sample_text(model, tokenizer, sc.prompt, sc.max_new_tokens, sc.seed, device, sc.temperature,
                            sc.top_k, sc.top_p, num_samples=sc.num_samples, use_cache=sc.use_cache)
    texts = [texts] if isinstance(texts, str) else texts
    sep = "\n" + "-" * 40 + "\n"
    out = Path(sc.out) if sc.out else Path(sc.ckpt).resolve().parent.parent / "samples" / f"sample_seed{sc.seed}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(sep.join(texts), encoding="utf-8")
    for t in texts:
        print(t, end=sep, flush=True)
    print(f"[seqgen] {len(texts)} sample(s) from {sc.ckpt} (step {state['step']}) written to {out}", flush=True)
    return {"texts": texts, "out": out}
