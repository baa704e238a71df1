"""∞-gram index beside tokengrams and infini-gram (seqgen/bench/infgram.py; --help for the options)."""
from seqgen.bench import infgram as bench

if __name__ == "__main__":
    bench.main()
