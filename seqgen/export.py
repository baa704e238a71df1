"""Model file conversion behind scripts/export.py: n-gram checkpoints <-> ARPA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen.core import checkpoint as ckpt
from seqgen.config import ConfigError


@dataclass
class ExportConfig:
    ckpt: str | None = None
    arpa: str | None = None
    format: str = "arpa"      # arpa | checkpoint | word2vec | word2vec_binary
    out: str | None = None


def arpa_to_checkpoint(arpa_path, out) -> Path:
    """A data-free seqgen n-gram checkpoint from an ARPA file, with a whitespace word tokenizer."""
    from seqgen.models.ngram import BOS, EOS, UNK
    from seqgen.models.ngram_io import read_arpa, to_state
    from seqgen.data.tokenizer import WordTokenizer

    words = read_arpa(arpa_path).vocab
    itos = [UNK] + [w for w in words if w not in (BOS, EOS, UNK)]
    tok = WordTokenizer(itos, split="whitespace")
    model = read_arpa(arpa_path, vocab_order=itos + [BOS, EOS])  # tokenizer ids == model ids
    return ckpt.save({"model_name": "ngram", "model_config": model.config.__dict__.copy(),
                      "tokenizer": tok.to_json(), "model": to_state(model), "step": 0, "metrics": {},
                      "config": {"source": str(arpa_path)}}, out)


def export(cfg: ExportConfig) -> Path:
    if not cfg.out:
        raise ConfigError("out=FILE is required")
    if cfg.format == "arpa":
        if not cfg.ckpt:
            raise ConfigError("format=arpa needs ckpt=PATH (an n-gram checkpoint)")
        from seqgen.models.ngram_io import write_arpa
        from seqgen.run import load_model

        model, _, state = load_model(cfg.ckpt)
        if state["model_name"] != "ngram":
            raise ConfigError(f"{cfg.ckpt} holds a '{state['model_name']}' model; format=arpa needs an n-gram")
        write_arpa(model, cfg.out)
        return Path(cfg.out)
    if cfg.format in ("word2vec", "word2vec_binary"):
        if not cfg.ckpt:
            raise ConfigError(f"format={cfg.format} needs ckpt=PATH (a word2vec checkpoint)")
        from seqgen.run import load_model

        model, _, state = load_model(cfg.ckpt)
        if state["model_name"] != "word2vec":
            raise ConfigError(f"{cfg.ckpt} holds a '{state['model_name']}' model; format={cfg.format} needs word2vec")
        write_word2vec(model.vocab, model.vectors, cfg.out, binary=cfg.format == "word2vec_binary")
        return Path(cfg.out)
    if cfg.format == "checkpoint":
        if not cfg.arpa:
            raise ConfigError("format=checkpoint needs arpa=PATH")
        if not Path(cfg.arpa).is_file():
            raise FileNotFoundError(f"arpa={cfg.arpa}: file not found")
        return arpa_to_checkpoint(cfg.arpa, cfg.out)
    raise ConfigError(f"format must be arpa, checkpoint, word2vec or word2vec_binary; got {cfg.format!r}")


def write_word2vec(vocab, vectors, path, binary: bool = False) -> None:
    """The original word2vec formats (gensim's load_word2vec_format reads both): a "V D" header, then
    per word either `word v1 .. vD` (text, 9 significant digits: float32 exact) or `word ` + D
    little-endian float32 + newline (binary)."""
    import numpy as np

    arr = np.asarray(vectors, dtype="<f4")
    with open(path, "wb") as f:
        f.write(f"{len(vocab)} {arr.shape[1]}\n".encode())
        for w, v in zip(vocab, arr):
            if binary:
                f.write(w.encode("utf-8") + b" " + v.tobytes() + b"\n")
            else:
                f.write((w + " " + " ".join(f"{x:.9g}" for x in v.tolist()) + "\n").encode("utf-8"))
