"""The upsampler's run settings, the `upsampler:` block of train.py: how it is trained, sampled and
scored. A checkpoint keeps them; sample.py (decode=null) and evaluate.py decode with them, read back
by `FAMILY.settings_of(state)`, so every default is written here once (configs/model/upsampler.yaml
repeats them, and tests/core/test_defaults.py holds the two equal)."""

from __future__ import annotations

from dataclasses import dataclass

from seqgen.core.schema import key
from seqgen.families.base import predated, settings_from

DECODES = ("sample", "greedy", "mee")
# format_version 1 kept these in a global `pixels:` block, some under other names
_OLD_NAMES = {"upsample_eval_images": "eval_images"}


@dataclass
class Settings:
    """How the upsampler is trained, sampled and scored (the `upsampler:` block)."""

    blocks_per_image: int = key(64, ge=1)   # random 4x4 blocks per training image (trainer.batch_size = images)
    edge_weight: float = key(8.0, gt=0)     # blocks whose low-res window is not flat are drawn this much more often
    eval_images: int = key(32, ge=0)        # images scored per evaluation, and upsampled at the end (0: skip)
    sample_images: int = key(4, ge=1)       # images in the sample grid
    retries: int = key(0, ge=0)             # constrained=false: redraws of a block whose 4x reduction misses
    temperature: float = key(1.0, ge=0)
    top_k: int | None = key(None, ge=1)
    decode: str = key("mee", choices=DECODES)   # mee: min expected RGB error (arch=conv)
    constrained: bool = True                # every block drawn / repaired to map back to its low-res pixel


def _settings_from_pixels_block(state: dict) -> bool:
    config = state.get("config") or {}
    if "pixels" not in config:
        return False
    block = {_OLD_NAMES.get(k, k): v for k, v in config.pop("pixels").items()}
    config.setdefault("upsampler", {k: v for k, v in block.items() if k in Settings.__dataclass_fields__})
    return True


# the patch steps of the settings block (family.py adds the model's), in the order they apply
PATCHES = (("settings moved from the pixels: block to upsampler:", _settings_from_pixels_block),
           ("decoded by sampling (upsampler.decode=sample, the default before mee)",
            predated("upsampler", {"decode": "sample"})))


def settings_of(state: dict) -> Settings:
    """The upsampler settings a checkpoint's run used (FAMILY.settings_of without importing family.py)."""
    return settings_from(Settings, "upsampler", state, PATCHES)
