"""The 4x token upsampler: p(128x128 palette indices | 32x32 ones), drawn block by block."""

from seqgen.data.images.prepare import ImageDataConfig
from seqgen.families.base import Family
from seqgen.families.upsampler.evaluate import EvalArgs, evaluate
from seqgen.families.upsampler.generate import SampleArgs, sample, transform_images
from seqgen.families.upsampler.model import Upsampler, build_upsampler
from seqgen.families.upsampler.settings import PATCHES, Settings
from seqgen.families.upsampler.task import make_task


def _block_model(state: dict) -> bool:
    """Checkpoints from before model.arch are the autoregressive block model."""
    mc = state.get("model_config") or {}
    if "arch" in mc:
        return False
    mc["arch"] = "blocks"
    return True


def load(state: dict, device):
    model = build_upsampler(Upsampler.Config(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), None


FAMILY = Family(name="upsampler", Model=Upsampler, DataConfig=ImageDataConfig, derived=("n_colors", "factor"),
                Settings=Settings, SampleArgs=SampleArgs, EvalArgs=EvalArgs, make_task=make_task, sample=sample,
                transform_images=transform_images, evaluate=evaluate, load=load,
                patches=(*PATCHES, ("the autoregressive block model (model.arch=blocks)", _block_model)),
                hub_tags=("image-to-image", "super-resolution", "pixel-tokens"))
