"""Sample from a checkpoint: python scripts/sample.py ckpt=PATH prompt="ROMEO:" num_samples=3 seed=1"""

import sys

import hydra

from seqgen.core.checkpoint import CheckpointError
from seqgen.config import ConfigError
from seqgen.run import sample


@hydra.main(version_base="1.3", config_path="../configs", config_name="sample")
def main(cfg):
    try:
        sample(cfg)
    except (ConfigError, CheckpointError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
