"""N-gram benchmark beside KenLM (seqgen/bench/ngram.py; --help for the options)."""
from seqgen.bench import ngram as bench

if __name__ == "__main__":
    bench.main()
