"""Preparing a big corpus: memory and throughput (seqgen/bench/data.py; --help for the options)."""
from seqgen.bench import data as bench

if __name__ == "__main__":
    bench.main()
