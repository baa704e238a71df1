"""Efros-Leung synthesis: python scripts/synthesize.py image=skimage:brick size=128 window=11

mode=texture|fill|extrapolate|text|analogy; see configs/synthesize.yaml for every key.
"""

import hydra

from seqgen.app import cli
from seqgen.core.schema import build, to_plain
from seqgen.texture.run import SynthConfig, run


@hydra.main(version_base="1.3", config_path="../configs", config_name="synthesize")
def main(cfg):
    cli.run(lambda: run(build(SynthConfig, to_plain(cfg), "synthesize")))


if __name__ == "__main__":
    cli.prepare_argv()
    main()
