"""The model card (README.md) of a pretrained folder, written from the run itself: what the model is, the
data, a command that retrains it, the hardware and training time, held-out figures from the family's
evaluate, samples, intended use and limits, the licence, and Hub metadata in YAML front matter."""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

from omegaconf import OmegaConf

from seqgen import families
from seqgen.app.cli import compose

SKIP_KEYS = ("run_name", "out_root", "data_root", "seed")   # where a run lived, not what it was


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v) if (not v or any(c in v for c in " \n'\"[]{},=")) else v
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return repr(v)


def train_command(run: dict) -> str:
    """`python scripts/train.py model=<name> data=<name> key=value ...`: the keys where the run's config
    differs from what those two groups compose to (so the command rebuilds exactly this config)."""
    model, data = (run.get("model") or {}).get("name"), (run.get("data") or {}).get("name")
    base = ["scripts/train.py"] + ([f"model={model}"] if model else []) + ([f"data={data}"] if data else [])
    try:
        default = _flat(OmegaConf.to_container(compose(base[1:]), resolve=True))
    except Exception:       # a data group this checkout does not have: every key then
        default = {}
    overrides = [f"{k}={_value(v)}" for k, v in _flat(run).items()
                 if k not in SKIP_KEYS and k not in ("model.name", "data.name") and default.get(k, object()) != v]
    if run.get("seed") is not None and run.get("seed") != default.get("seed"):
        overrides.append(f"seed={run['seed']}")
    return "python " + " ".join(base + overrides)


def _hms(seconds) -> str:
    if not seconds:
        return "not recorded"
    s = float(seconds)
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h"


def _figures(metrics: dict) -> str:
    rows = [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return "| figure | value |\n|---|---|\n" + "\n".join(rows) if rows else "(none)"


def _front_matter(fam, data: dict, license: str) -> list[str]:
    """The YAML block the Hub reads: library, license, pipeline tag, tags, dataset."""
    tags = list(fam.hub_tags)
    front = ["---", "library_name: seqgen", f"license: {license}"]
    if tags:
        front.append(f"pipeline_tag: {tags[0]}")
    front += ["tags:"] + [f"- {t}" for t in dict.fromkeys(["seqgen", fam.name, *tags[1:]])]
    if data.get("hf_name"):
        front += ["datasets:", f"- {data['hf_name']}"]
    return front + ["---"]


def _about(folder, fam, state: dict, config: dict, data: dict, dataset: str) -> list[str]:
    """Title, the family's own description and the facts of this model (config, data, training, hashes)."""
    what = (import_module(f"seqgen.families.{fam.name}.family").__doc__ or fam.name).strip()
    seconds = state.get("train_seconds") or (state.get("metrics") or {}).get("fit_seconds")
    mc = ", ".join(f"{k}={v}" for k, v in state["model_config"].items())
    return [
        "", f"# {folder.name}: a seqgen {fam.name} model", "", what, "",
        f"- **Family**: `{fam.name}` ({config.get('num_params', 0):,} numbers in model.safetensors)",
        f"- **Model config**: {mc}",
        f"- **Data**: `{dataset}`" + (f" ({json.dumps({k: v for k, v in data.items() if k != 'name'})})"
                                      if len(data) > 1 else ""),
        f"- **Trained for**: {state.get('step', 0)} steps in {_hms(seconds)}"
        f" on {state.get('hardware') or 'hardware not recorded (a checkpoint of an older seqgen)'}",
        f"- **seqgen**: {config.get('seqgen_version')}, pretrained format {config.get('format_version')}",
        f"- **model.safetensors sha256**: `{config.get('weights_sha256')}`"]


def _usage(folder) -> list[str]:
    return ["## Use", "", "```python", "import seqgen", "", f"m = seqgen.from_pretrained(\"{folder.name}\")  "
            "# a folder, or a Hub id user/repo", "out = m.sample(num_samples=2, seed=0)", "```", "",
            "```bash", f"python scripts/sample.py ckpt={folder.name}    # or ckpt=hf:user/repo[@revision]",
            f"python scripts/evaluate.py ckpt={folder.name}", "```", ""]


def _evaluation(state: dict, evaluation: dict | None, eval_note: str) -> list[str]:
    lines = ["## Held-out evaluation", ""]
    if evaluation is not None:
        return lines + ["From the family's `evaluate` (scripts/evaluate.py) when this folder was written:", "",
                        _figures(evaluation), ""]
    return lines + [f"Not evaluated when this folder was written ({eval_note}). Figures logged during training:",
                    "", _figures(state.get("metrics") or {}), ""]


def _samples(samples: dict) -> list[str]:
    if not (samples.get("picture") or samples.get("text")):
        return []
    lines = ["## Samples", ""]
    if samples.get("picture"):
        lines += [f"![samples]({samples['picture']})", ""]
    if samples.get("text"):
        lines += ["```text", samples["text"].rstrip(), "```", ""]
    return lines


def _limits_and_files(folder, dataset: str) -> list[str]:
    return ["## Intended use and limits", "",
            f"A research and teaching model: small, trained on `{dataset}` only, with no safety filtering or "
            "evaluation beyond the figures above. It reproduces the style and content of its training data "
            "(including its biases) and is not meant for production use or for decisions about people. "
            "Samples are drawn with an explicit seed, so they repeat exactly.", "",
            "## Files", "",
            "`config.json` (family, model config, data and run settings, format version), `model.safetensors` "
            "(the weights or tables; no pickle), "
            + ", ".join(f"`{p.name}`" for p in sorted(folder.iterdir())
                        if p.name not in ("config.json", "model.safetensors", "README.md")), ""]


def write(folder, state: dict, config: dict, evaluation: dict | None, eval_note: str, samples: dict,
          license: str = "mit", command: str | None = None) -> Path:
    """README.md in `folder`; `evaluation`: the family's evaluate() figures (None: not run, eval_note says
    why); samples: {"picture": file name or None, "text": str or None}."""
    fam = families.get(state["model_name"])
    run = state.get("config") or {}
    data = run.get("data") or {}
    dataset = data.get("hf_name") or data.get("name") or "unknown"
    lines = (_front_matter(fam, data, license) + _about(folder, fam, state, config, data, dataset)
             + ["", "## Reproduce", "", "```bash", command or train_command(run), "```", ""]
             + _usage(folder) + _evaluation(state, evaluation, eval_note) + _samples(samples)
             + _limits_and_files(folder, dataset))
    path = folder / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
