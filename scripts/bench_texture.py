"""Efros-Leung speed and quality (seqgen/bench/texture.py; --help for the options)."""
from seqgen.bench import texture as bench

if __name__ == "__main__":
    bench.main()
