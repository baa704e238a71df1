"""A ladder rung (one training run and its evaluation) and its CPU cost, kept beside its run
(ladder_cost.json) so a rerun that reuses the run still reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Rung:
    key: str                  # run name (under out_root) and row id
    label: str
    corpus: str               # chars | words | pixels | text (the wordmix ladder) | scaling
    overrides: list[str] = field(default_factory=list)
    init_from: str | None = None   # key of the word2vec rung whose vectors initialise this GPT
    baseline: bool = False         # a count-based rung the neural ones are measured against
    evaluate: dict = field(default_factory=dict)   # evaluate.py keys for this rung (images=, ...)


def cost_file(run_dir) -> Path:
    return Path(run_dir) / "ladder_cost.json"


def read_cost(run_dir) -> dict:
    p = cost_file(run_dir)
    return json.loads(p.read_text()) if p.is_file() else {}
