"""text2pixel's run settings, the `text2pixel:` block of train.py: how it is sampled and scored during
and after training. A checkpoint keeps them; sample.py and evaluate.py read them back with
`FAMILY.settings_of(state)` (guidance="run" is this block's guidance), so every default is written here
once (configs/model/text2pixel.yaml repeats them, and tests/core/test_defaults.py holds the two equal)."""

from __future__ import annotations

from dataclasses import dataclass

from seqgen.core.schema import key
from seqgen.families.base import predated, settings_from


@dataclass
class Settings:
    """How text2pixel is sampled and scored during and after training (the `text2pixel:` block)."""

    guidance: float | None = 2.0     # classifier-free guidance scale for samples and fidelity (null: none)
    temperature: float = key(1.0, ge=0)
    top_k: int | None = key(None, ge=1)
    eval_images: int | None = key(500, ge=1)   # images per split for bits per pixel-token (null: all)
    # held-out captions drawn and scored at the end (a dataset with a checker: shapes, emoji; 0: skip); a
    # run of N steps draws at most max(8, N), so a smoke run's end-of-run check takes seconds
    fidelity_images: int = key(200, ge=0)
    sample_images: int = key(8, ge=1)          # images in the sample grid (samples/step_N.png, wandb, TensorBoard)
    baseline: bool = True            # fit the pixel n-gram on train and report its bits per pixel


def _settings_from_pixels_block(state: dict) -> bool:
    """format_version 1 kept image models' settings in a global `pixels:` block."""
    config = state.get("config") or {}
    if "pixels" not in config:
        return False
    block = config.pop("pixels")
    config.setdefault("text2pixel", {k: v for k, v in block.items() if k in Settings.__dataclass_fields__})
    return True


# the patch steps of the settings block (family.py adds the model's), in the order they apply
PATCHES = (("settings moved from the pixels: block to text2pixel:", _settings_from_pixels_block),
           ("guidance 3 (text2pixel.guidance, the default before 2)", predated("text2pixel", {"guidance": 3.0})))


def settings_of(state: dict) -> Settings:
    """The text2pixel settings a checkpoint's run used (FAMILY.settings_of without importing family.py)."""
    return settings_from(Settings, "text2pixel", state, PATCHES)
