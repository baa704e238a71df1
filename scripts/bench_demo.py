"""The demo's speed targets, each through the tab's own function (seqgen/bench/demo.py; --help)."""
from seqgen.bench import demo as bench

if __name__ == "__main__":
    bench.main()
