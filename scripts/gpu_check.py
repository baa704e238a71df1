"""The driver of scripts/gpu_check.sh: timed parts inside one budget (seqgen/bench/gpu_check.py; --help)."""
from seqgen.bench import gpu_check

if __name__ == "__main__":
    gpu_check.main()
