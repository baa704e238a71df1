"""seqgen: autoregressive token models over words and pixels.

The public facade (what notebooks import): `train(cfg)`, `sample(cfg)`, `evaluate(values)`,
`load_model(path)`, `from_pretrained(folder or "user/repo")`, `save_pretrained(ckpt, folder)`,
`compose(overrides)`. Nothing runs at import: the family registry
(seqgen.families) imports a family's folder only when it is asked for by name, and heavy optional
packages (wandb, tensorboard, datasets) are imported lazily.

Layers, each importing only those before it: core <- nn <- data <- families / texture <- app <- ladder.
"""

__version__ = "0.2.0"


def train(cfg) -> dict:
    """Train or fit the model a composed config names (see seqgen.app.train)."""
    from seqgen.app.train import train as _train

    return _train(cfg)


def sample(cfg) -> dict:
    """Sample from a checkpoint (see seqgen.app.sample)."""
    from seqgen.app.sample import sample as _sample

    return _sample(cfg)


def evaluate(values: dict) -> dict:
    """Evaluate a checkpoint in comparable units (see seqgen.app.evaluate)."""
    from seqgen.app.evaluate import evaluate as _evaluate

    return _evaluate(values)


def load_model(path, device="cpu"):
    """(model, tokenizer, checkpoint state) from a checkpoint file alone."""
    from seqgen.app.load import load_model as _load

    return _load(path, device)


def from_pretrained(name, device="cpu"):
    """A model ready to sample (`.sample(...)`, `.evaluate(...)`, `.save_pretrained(dir)`, `.push_to_hub(repo)`)
    from a pretrained folder, a checkpoint file or a Hub id ("user/repo", "user/repo@revision")."""
    from seqgen.app.pretrained import from_pretrained as _from

    return _from(name, device)


def save_pretrained(source, out, **kw):
    """Write a pretrained folder (config.json, model.safetensors, tokenizer / palette, README.md model card)
    from a checkpoint file, folder or Hub id (see seqgen.app.pretrained.save_pretrained)."""
    from seqgen.app.pretrained import save_pretrained as _save

    return _save(source, out, **kw)


def compose(overrides: list[str]):
    """The config scripts/train.py builds from these command-line overrides (for notebooks)."""
    from seqgen.app.cli import compose as _compose

    return _compose(overrides)
