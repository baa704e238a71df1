"""Caption -> 32x32 palette image: a prefix LM on the shared decoder trunk, classifier-free guidance."""

from seqgen.data.images.prepare import ImageDataConfig
from seqgen.families.base import Family
from seqgen.families.text2pixel.evaluate import EvalArgs, evaluate
from seqgen.families.text2pixel.generate import SampleArgs, sample
from seqgen.families.text2pixel.model import Text2Pixel
from seqgen.families.text2pixel.settings import PATCHES, Settings
from seqgen.families.text2pixel.task import make_task


def _one_pixel_tokens(state: dict) -> bool:
    """Checkpoints from before patch tokens draw one pixel per step: patch 1, the palette as vocabulary."""
    mc = state.get("model_config") or {}
    if "patch" in mc:
        return False
    mc.update(patch=1, max_vocab=Text2Pixel.Config.max_vocab, n_tokens=mc.get("n_colors", 0))
    return True


FAMILY = Family(name="text2pixel", Model=Text2Pixel, DataConfig=ImageDataConfig,
                derived=("text_vocab_size", "n_colors", "caption_len", "height", "width", "n_tokens"),
                Settings=Settings, SampleArgs=SampleArgs, EvalArgs=EvalArgs, make_task=make_task, sample=sample,
                evaluate=evaluate,
                patches=(*PATCHES,
                         ("one pixel per token (model.patch=1, the model before patch tokens)", _one_pixel_tokens)),
                hub_tags=("text-to-image", "pixel-tokens"))
