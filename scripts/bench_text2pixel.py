"""text -> 32x32 pixels: training and sampling speed, and quality (seqgen/bench/text2pixel.py; --help)."""
from seqgen.bench import text2pixel as bench

if __name__ == "__main__":
    bench.main()
