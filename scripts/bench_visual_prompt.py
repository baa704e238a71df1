"""Visual prompting: train, score everything, time the sampler (seqgen/bench/visual_prompt.py; --help)."""
from seqgen.bench import visual_prompt as bench

if __name__ == "__main__":
    bench.main()
