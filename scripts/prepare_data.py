"""Prepare a dataset ahead of training (train.py also does it on first use):
python scripts/prepare_data.py data=shakespeare_words
"""

import sys

import hydra

from seqgen.config import ConfigError, build, to_plain
from seqgen.data.prepare import DataConfig, prepare
from seqgen.data.sources import DataError


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    try:
        plain = to_plain(cfg)
        data = prepare(build(DataConfig, plain["data"], "data"), plain["data_root"])
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"prepared: {data.dir}")


if __name__ == "__main__":
    main()
