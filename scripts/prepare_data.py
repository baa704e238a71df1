"""Prepare a text dataset ahead of training (train.py also does it on first use):
python scripts/prepare_data.py data=shakespeare_words
"""

import hydra

from seqgen.app import cli
from seqgen.core.config import build, to_plain
from seqgen.data.prepare import DataConfig, prepare


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    plain = to_plain(cfg)
    data = cli.run(lambda: prepare(build(DataConfig, plain["data"], "data"), plain["data_root"]))
    print(f"prepared: {data.dir}")


if __name__ == "__main__":
    cli.prepare_argv(cli.TRAIN_GROUPS)
    main()
