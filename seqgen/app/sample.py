"""sample(cfg): the sample verb. Loads any checkpoint, validates the keys against its family (the
common keys below plus the family's SampleArgs), and hands over to the family's sampler; with
`upsampler_ckpt=` the drawn images go on through app/pipeline.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen import families
from seqgen.app.load import load_model
from seqgen.app.pipeline import PipelineArgs, load_second_stage, run_second_stage
from seqgen.core import distributed as D
from seqgen.core.errors import ConfigError
from seqgen.core.schema import key, to_plain
from seqgen.families.base import split_args


@dataclass
class SampleConfig:
    """The keys every family's sampler reads (configs/sample.yaml holds the same defaults)."""

    ckpt: str | None = None
    prompt: str = "\n"
    prompt_file: str | None = None   # read the prompt from this UTF-8 file, exactly as it is (newlines too)
    num_samples: int = key(1, ge=1)
    max_new_tokens: int = key(500, ge=0)
    temperature: float = key(0.8, ge=0)      # 0: greedy
    top_k: int | None = key(200, ge=1)       # null: no top-k filter
    top_p: float | None = key(None, gt=0, le=1)   # null: no nucleus filter
    seed: int = 1337
    device: str = "auto"        # auto | cpu | cuda
    use_cache: bool = True
    out: str | None = None      # the output file or folder; default <run_dir>/samples/sample_seed<seed>.<txt|png>


def read_prompt_file(values: dict) -> dict:
    """values with prompt_file's text as the prompt (and prompt_file dropped); one error for a file
    that cannot be read, or for both keys at once."""
    path = values.get("prompt_file")
    if not path:
        return values
    if values.get("prompt", SampleConfig.prompt) != SampleConfig.prompt:
        raise ConfigError("give prompt= or prompt_file=, not both")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"prompt_file={path}: cannot read it as UTF-8 text ({e})") from None
    return {**values, "prompt": text, "prompt_file": None}


def sample(cfg, loaded: tuple | None = None) -> dict:
    """Load a checkpoint, draw num_samples samples, print and save them -> {"out", "texts" | "images"}.
    `loaded`: a (model, tokenizer, state) already loaded from ckpt (seqgen.from_pretrained's objects)."""
    values = dict(to_plain(cfg))
    if not values.get("ckpt"):
        raise ConfigError("ckpt is required: python scripts/sample.py ckpt=outputs/<run>/checkpoints/last.pt")
    values = read_prompt_file(values)
    device = D.resolve_device(values.get("device", "auto"))
    if not values.get("out") and not str(values["ckpt"]).endswith(".pt") and not Path(values["ckpt"]).is_file():
        # a pretrained folder or Hub snapshot has no run folder to write samples into (and the Hub cache
        # must stay as downloaded): ./samples/<name>/
        values["out"] = str(Path("samples") / Path(str(values["ckpt"]).removeprefix("hf:").split("@")[0]).name) + "/"
    model, tokenizer, state = loaded or load_model(values["ckpt"], device)
    fam = families.get(state["model_name"])
    second = load_second_stage(values.get("upsampler_ckpt"), fam, state, device)
    sc, args, pipeline, second_args = split_args(
        values, SampleConfig, fam.SampleArgs, PipelineArgs, second.fam.SampleArgs if second else None,
        where=f"sample.py with a {fam.name} checkpoint")
    if fam.sample is None:
        raise ConfigError(f"a {fam.name} checkpoint has no sampler")
    result = fam.sample(model, tokenizer, state, sc, args, device)
    if second is not None:
        result = run_second_stage(second, result, sc, second_args, device)
    if "texts" in result:
        print(f"[seqgen] {len(result['texts'])} sample(s) from {sc.ckpt} (step {state['step']}) written to "
              f"{result['out']}", flush=True)
    return result
