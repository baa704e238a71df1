"""Export / import model files.

python scripts/export.py ckpt=PATH format=arpa out=model.arpa          # n-gram -> ARPA (KenLM, SRILM)
python scripts/export.py arpa=model.arpa format=checkpoint out=m.pt    # ARPA -> seqgen checkpoint
python scripts/export.py ckpt=PATH format=word2vec out=vectors.txt      # or word2vec_binary (gensim, word2vec.c)
"""

import hydra

from seqgen.app import cli
from seqgen.app.export import export
from seqgen.core.config import to_plain


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg):
    print(f"written: {cli.run(export, to_plain(cfg))}")


if __name__ == "__main__":
    cli.prepare_argv()
    main()
