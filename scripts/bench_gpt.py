"""GPT training and sampling speed beside HF GPT-2 and nanoGPT (seqgen/bench/gpt.py; --help for the options)."""
from seqgen.bench import gpt as bench

if __name__ == "__main__":
    bench.main()
