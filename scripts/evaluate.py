"""Evaluate a checkpoint in comparable units: python scripts/evaluate.py ckpt=PATH [split=test] [out=x.json]

Prints the figures (one a line, or the family's table) and, last, one JSON line with all of them
(see seqgen/app/evaluate.py).
"""

import json
from pathlib import Path

import hydra

from seqgen.app import cli
from seqgen.app.evaluate import evaluate, report
from seqgen.core.config import to_plain


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def main(cfg):
    values = to_plain(cfg)
    result = cli.run(evaluate, values)
    print(report(result))
    line = json.dumps({"evaluate": values["ckpt"], **result})
    if values.get("out"):
        Path(values["out"]).parent.mkdir(parents=True, exist_ok=True)
        Path(values["out"]).write_text(line + "\n")
    print(line)


if __name__ == "__main__" and not cli.print_family_keys("EvalArgs"):
    cli.prepare_argv()
    main()
