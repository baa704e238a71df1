"""A trained rung's CPU cost, kept beside its run (ladder_cost.json) so a rerun that reuses the run
still reports it."""

from __future__ import annotations

import json
from pathlib import Path


def cost_file(run_dir) -> Path:
    return Path(run_dir) / "ladder_cost.json"


def read_cost(run_dir) -> dict:
    p = cost_file(run_dir)
    return json.loads(p.read_text()) if p.is_file() else {}
