"""Video-texture speed beside a per-pair numpy loop (seqgen/bench/video.py; --help for the options)."""
from seqgen.bench import video as bench

if __name__ == "__main__":
    bench.main()
