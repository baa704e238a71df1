"""Loading a pretrained folder against a last.pt (seqgen/bench/pretrained.py; --help for the options)."""
from seqgen.bench import pretrained as bench

if __name__ == "__main__":
    bench.main()
