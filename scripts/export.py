"""Export / import model files.

python scripts/export.py ckpt=PATH format=arpa out=model.arpa          # n-gram -> ARPA (KenLM, SRILM)
python scripts/export.py arpa=model.arpa format=checkpoint out=m.pt    # ARPA -> seqgen checkpoint
python scripts/export.py ckpt=PATH format=word2vec out=vectors.txt      # or word2vec_binary (gensim, word2vec.c)
python scripts/export.py ckpt=PATH format=pretrained out=DIR [push_to_hub=user/repo]   # any family: safetensors + card
python scripts/export.py ckpt=PATH format=hf_transformers out=DIR       # GPT -> AutoModelForCausalLM folder
python scripts/export.py hf=DIR format=checkpoint out=m.pt              # transformers GPT-2 / GPT-NeoX -> seqgen

ckpt= is a checkpoint file, a pretrained folder or hf:user/repo[@revision].
"""

import hydra

from seqgen.app import cli
from seqgen.app.export import export
from seqgen.core.schema import to_plain


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg):
    print(f"written: {cli.run(export, to_plain(cfg))}")


if __name__ == "__main__":
    cli.prepare_argv()
    main()
