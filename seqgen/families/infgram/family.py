"""∞-gram LM over a suffix array (Liu et al. 2024, infini-gram): fitted by indexing the token file."""

from seqgen.data.prepare import DataConfig
from seqgen.families.base import Family
from seqgen.families.infgram.evaluate import EvalArgs, evaluate
from seqgen.families.infgram.fit import fit, load
from seqgen.families.infgram.generate import SampleArgs, sample
from seqgen.families.infgram.model import InfGram

FAMILY = Family(name="infgram", Model=InfGram, DataConfig=DataConfig, derived=("vocab_size",),
                SampleArgs=SampleArgs, EvalArgs=EvalArgs, fit=fit, load=load, sample=sample, evaluate=evaluate)
