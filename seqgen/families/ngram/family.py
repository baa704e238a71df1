"""Count-based n-gram LMs (modified Kneser-Ney as KenLM, Witten-Bell): fitted by counting, ARPA in/out."""

from seqgen.data.prepare import DataConfig
from seqgen.families.base import Family
from seqgen.families.ngram.evaluate import EvalArgs, evaluate
from seqgen.families.ngram.fit import fit
from seqgen.families.ngram.generate import sample
from seqgen.families.ngram.io import arpa_to_checkpoint, export_arpa, load, tokenizer_fits
from seqgen.families.ngram.model import NGram

FAMILY = Family(name="ngram", Model=NGram, DataConfig=DataConfig, derived=("vocab_size", "block_size"),
                EvalArgs=EvalArgs, fit=fit, load=load, sample=sample, evaluate=evaluate,
                exporters={"arpa": export_arpa}, importers={"arpa": arpa_to_checkpoint},
                hub_tags=("text-generation", "n-gram", "kneser-ney", "arpa"),
                pretrained_files={"model.arpa": "arpa"}, tokenizer_fits=tokenizer_fits)
