"""Sample from a checkpoint: python scripts/sample.py ckpt=PATH prompt="ROMEO:" num_samples=3 seed=1

ckpt= is a checkpoint file, a pretrained folder or a Hub id (hf:user/repo[@revision]).
The text after `prompt=` is the prompt, character for character (commas, quotes, any letter): the
shell's quoting is the only one (a value wrapped whole in one more pair of quotes, Hydra's quoting,
loses that pair). `prompt_file=PATH` reads it from a UTF-8 file instead.

Keys: configs/sample.yaml (every model) plus the checkpoint family's own (e.g. guidance= for text2pixel,
image= for the upsampler); a key the family does not take is an error that lists the valid ones, and
`python scripts/sample.py --keys` lists every family's, with defaults.
"""

import hydra

from seqgen.app import cli
from seqgen.app.sample import sample


@hydra.main(version_base="1.3", config_path="../configs", config_name="sample")
def main(cfg):
    cli.run(sample, cli.verbatim(cfg))


if __name__ == "__main__" and not cli.print_family_keys("SampleArgs"):
    cli.prepare_argv(verbatim=cli.VERBATIM)
    main()
