"""video_texture's run settings, the `video_texture:` block of train.py: what fitting reports and writes
beside the checkpoint (configs/model/video_texture.yaml repeats the defaults, tested equal)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    """The `video_texture:` block of train.py: what fitting reports and writes beside the checkpoint."""

    eval_frames: int = 10000       # frames of the seeded walk the figures are measured on (0: none)
    sample_frames: int = 150       # frames of samples/texture.gif (0: none)
    figure: bool = True            # samples/transition_matrix.png: D and P without / with filter and future costs
