"""Prepare any model's data ahead of training (train.py also does it on first use):
python scripts/prepare_data.py data=shakespeare_words      (text: tokenized into data_root)
python scripts/prepare_data.py data=shapes                 (images: rendered and quantised)
python scripts/prepare_data.py data=bigbuckbunny           (video: fetched into data_root/raw and read)
python scripts/prepare_data.py data=visual_sentences       (drawn on the fly: checks the config)

The data.name picks the config class (the family's DataConfig that lists it) and that class prepares.
"""

import hydra

from seqgen import families
from seqgen.app import cli
from seqgen.core.schema import build, to_plain


def prepare(plain: dict) -> str:
    cls = families.data_config(plain["data"]["name"])
    return build(cls, plain["data"], "data").prepare_into(plain["data_root"])


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    print(cli.run(prepare, to_plain(cfg)))


if __name__ == "__main__":
    cli.prepare_argv(cli.TRAIN_GROUPS)
    main()
