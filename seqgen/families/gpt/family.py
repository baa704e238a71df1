"""The decoder-only transformer LM (nanoGPT-class): trained by the shared Trainer on token streams."""

from seqgen.data.prepare import DataConfig
from seqgen.families.base import Family
from seqgen.families.gpt.evaluate import EvalArgs, evaluate
from seqgen.families.gpt.generate import SampleArgs, sample
from seqgen.families.gpt.hf import export_hf, hf_to_checkpoint
from seqgen.families.gpt.model import GPT
from seqgen.families.gpt.task import make_task

FAMILY = Family(name="gpt", Model=GPT, DataConfig=DataConfig, derived=("vocab_size",), EvalArgs=EvalArgs,
                SampleArgs=SampleArgs, make_task=make_task, sample=sample, evaluate=evaluate,
                exporters={"hf_transformers": export_hf}, importers={"hf": hf_to_checkpoint},
                hub_tags=("text-generation", "gpt", "causal-lm"))
