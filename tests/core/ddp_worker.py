"""Launched by torchrun in test_distributed.py: trains a tiny model and saves this rank's weights."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from seqgen.app.train import train  # noqa: E402
from tests.conftest import compose  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1])
    result = train(compose(sys.argv[2:]))
    rank = int(__import__("os").environ["RANK"])
    torch.save({k: v.clone() for k, v in result["model"].state_dict().items()}, out / f"rank{rank}.pt")
