#!/usr/bin/env bash
# The README's first command: set up, train the default model (nanoGPT's CPU recipe on tiny-shakespeare,
# ~3 minutes on 2 CPU cores), then sample from its checkpoint. Extra arguments go to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/train.py experiment=gpt_shakespeare_char_cpu "$@"
.venv/bin/python scripts/sample.py ckpt=outputs/gpt_shakespeare_char_cpu/checkpoints/last.pt \
  prompt="ROMEO:" max_new_tokens=400 out=outputs/gpt_shakespeare_char_cpu/samples/quickstart.txt
