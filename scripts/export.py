"""Export / import model files.

python scripts/export.py ckpt=PATH format=arpa out=model.arpa          # n-gram -> ARPA (KenLM, SRILM)
python scripts/export.py arpa=model.arpa format=checkpoint out=m.pt    # ARPA -> seqgen checkpoint
python scripts/export.py ckpt=PATH format=word2vec out=vectors.txt      # or word2vec_binary (gensim, word2vec.c)
"""

import sys

import hydra

from seqgen.core.checkpoint import CheckpointError
from seqgen.config import ConfigError, build, to_plain
from seqgen.export import ExportConfig, export


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg):
    try:
        print(f"written: {export(build(ExportConfig, to_plain(cfg), 'export'))}")
    except (ConfigError, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
