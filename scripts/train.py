"""Train a model: python scripts/train.py [experiment=NAME] [group=option] [key=value ...]

Also runs under torchrun for DDP: torchrun --nproc_per_node=2 scripts/train.py run_name=NAME
"""

import sys

import hydra

from seqgen.core.checkpoint import CheckpointError
from seqgen.config import ConfigError
from seqgen.data.sources import DataError
from seqgen.run import train


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    try:
        result = train(cfg)
    except (ConfigError, DataError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return result["metrics"].get("val/loss")  # the objective for Hydra sweepers


if __name__ == "__main__":
    main()
