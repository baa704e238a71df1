"""word2vec beside gensim (seqgen/bench/word2vec.py; --help for the options)."""
from seqgen.bench import word2vec as bench

if __name__ == "__main__":
    bench.main()
