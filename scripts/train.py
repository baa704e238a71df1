"""Train a model: python scripts/train.py [experiment=NAME] [group=option] [key=value ...]

Also runs under torchrun for DDP: torchrun --nproc_per_node=2 scripts/train.py run_name=NAME
"""

import hydra

from seqgen.app import cli
from seqgen.app.train import train


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    result = cli.run(train, cfg)
    return result["metrics"].get("val/loss")  # the objective for Hydra sweepers


if __name__ == "__main__":
    cli.prepare_argv(cli.TRAIN_GROUPS)
    main()
