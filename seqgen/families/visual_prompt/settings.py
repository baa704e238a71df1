"""visual_prompt's run settings, the `visual_prompt:` block of train.py: how it is scored and sampled
during and after training (configs/model/visual_prompt.yaml repeats the defaults, tested equal)."""

from __future__ import annotations

from dataclasses import dataclass

from seqgen.core.schema import key


@dataclass
class Settings:
    """How visual_prompt is scored and sampled during and after training (the `visual_prompt:` block)."""

    temperature: float = key(0.0, ge=0)        # answers for scores and sample grids (0: most likely token)
    top_k: int | None = key(None, ge=1)
    eval_sentences: int | None = key(128, ge=1)   # valid / test sentences for the losses (null: all)
    score_sentences: int = key(16, ge=0)       # held-out prompts per task answered at the end (0: skip)
    sample_prompts: int = key(1, ge=0)         # held-out prompts per task in the sample grid (0: skip)
