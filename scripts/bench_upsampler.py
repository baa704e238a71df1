"""The 4x upsampler: speed and quality beside two baselines (seqgen/bench/upsampler.py; --help)."""
from seqgen.bench import upsampler as bench

if __name__ == "__main__":
    bench.main()
