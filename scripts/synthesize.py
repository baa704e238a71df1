"""Efros-Leung synthesis: python scripts/synthesize.py image=skimage:brick size=128 window=11

mode=texture|fill|extrapolate|text; see configs/synthesize.yaml for every key.
"""

import sys

import hydra

from seqgen.config import ConfigError, build, to_plain
from seqgen.data.sources import DataError
from seqgen.texture.efros_leung import TextureError
from seqgen.texture.run import SynthConfig, run


@hydra.main(version_base="1.3", config_path="../configs", config_name="synthesize")
def main(cfg):
    try:
        run(build(SynthConfig, to_plain(cfg), "synthesize"))
    except (ConfigError, DataError, TextureError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
