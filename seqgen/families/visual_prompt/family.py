"""Visual prompting (Bar et al. 2022; LVM, Bai et al. 2023): a decoder over visual sentences of
pixel-token images answers A : A' :: B : ? from 0, 1 or 2 example pairs, as a sentence or a 2x2 canvas."""

from seqgen.data.images.visual import VisualConfig
from seqgen.families.base import Family, predated
from seqgen.families.visual_prompt.evaluate import EvalArgs, evaluate, report
from seqgen.families.visual_prompt.generate import SampleArgs, sample
from seqgen.families.visual_prompt.model import VisualPrompt
from seqgen.families.visual_prompt.settings import Settings
from seqgen.families.visual_prompt.task import make_task

FAMILY = Family(name="visual_prompt", Model=VisualPrompt, DataConfig=VisualConfig,
                derived=("n_colors", "size", "n_images", "n_tokens"), Settings=Settings, SampleArgs=SampleArgs,
                EvalArgs=EvalArgs, make_task=make_task, sample=sample, evaluate=evaluate, report=report,
                # the first release's model had no pixel head and no rotary positions
                patches=(("a patch-token softmax without rotary positions (model.head=vocab, model.rope=false)",
                          predated("model", {"head": "vocab", "rope": False})),),
                hub_tags=("image-to-image", "visual-prompting", "pixel-tokens"))
