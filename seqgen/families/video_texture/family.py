"""Video textures (Schödl et al. 2000): a Markov chain over a clip's frames, fitted without gradients,
played forever; video loops, frame-range control and steered video sprites."""

from seqgen.data.video.clips import ClipConfig
from seqgen.families.base import Family
from seqgen.families.video_texture.evaluate import EvalArgs, evaluate
from seqgen.families.video_texture.fit import fit
from seqgen.families.video_texture.generate import SampleArgs, sample
from seqgen.families.video_texture.model import VideoTexture
from seqgen.families.video_texture.settings import Settings


def load(state: dict, device):
    """(model, no tokenizer) from the checkpoint alone: frames, costs and chains are in it."""
    return VideoTexture.from_state(state["model_config"], state["model"]), None


FAMILY = Family(name="video_texture", Model=VideoTexture, DataConfig=ClipConfig,
                derived=("n_frames", "height", "width", "channels"), Settings=Settings, SampleArgs=SampleArgs,
                EvalArgs=EvalArgs, fit=fit, load=load, sample=sample, evaluate=evaluate,
                hub_tags=("other", "video-textures", "non-parametric"))
