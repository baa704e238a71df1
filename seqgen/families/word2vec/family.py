"""word2vec (skip-gram / CBOW with negative sampling, gensim's recipe): its own SGD loop, not the Trainer."""

from seqgen.data.prepare import DataConfig
from seqgen.families.base import Family
from seqgen.families.word2vec.fit import fit
from seqgen.families.word2vec.generate import sample
from seqgen.families.word2vec.io import exporter, load, tokenizer_fits
from seqgen.families.word2vec.model import Word2Vec
from seqgen.families.word2vec.vectors import EvalArgs, evaluate

FAMILY = Family(name="word2vec", Model=Word2Vec, DataConfig=DataConfig, derived=("vocab_size",),
                EvalArgs=EvalArgs, fit=fit, load=load, sample=sample, evaluate=evaluate,
                exporters={"word2vec": exporter(binary=False), "word2vec_binary": exporter(binary=True)},
                hub_tags=("feature-extraction", "word2vec", "word-embeddings"),
                pretrained_files={"vectors.txt": "word2vec"}, tokenizer_fits=tokenizer_fits)
