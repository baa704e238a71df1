"""Evaluate a checkpoint in comparable units: python scripts/evaluate.py ckpt=PATH [split=test] [out=x.json]

Prints one line per figure and, last, one JSON line with all of them (see seqgen/assess.py).
"""

import json
import sys
from pathlib import Path

import hydra

from seqgen.core.checkpoint import CheckpointError
from seqgen.config import ConfigError, build, to_plain
from seqgen.data.sources import DataError


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def main(cfg):
    from seqgen.assess import EvaluateConfig, evaluate_checkpoint

    try:
        ec = build(EvaluateConfig, to_plain(cfg), "evaluate")
        result = evaluate_checkpoint(ec)
    except (ConfigError, CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    for k, v in result.items():
        print(f"{k:>28}  {v:.4f}" if isinstance(v, float) else f"{k:>28}  {v}")
    line = json.dumps({"evaluate": ec.ckpt, **result})
    if ec.out:
        Path(ec.out).parent.mkdir(parents=True, exist_ok=True)
        Path(ec.out).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
