"""Image analogies: speed and quality (seqgen/bench/analogy.py; --help for the options)."""
from seqgen.bench import analogy as bench

if __name__ == "__main__":
    bench.main()
