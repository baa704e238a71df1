"""seqgen: autoregressive token models over words and pixels.

The public facade (what notebooks import): `train(cfg)`, `sample(cfg)`, `evaluate(values)`,
`load_model(path)`, `from_pretrained(folder or "user/repo")`, `save_pretrained(ckpt, folder)`,
`compose(overrides)`. Nothing runs at import: the family registry
(seqgen.families) imports a family's folder only when it is asked for by name, and heavy optional
packages (wandb, tensorboard, datasets) are imported lazily.

Layers, each importing only those before it: core <- nn <- data <- families / texture <- app <- ladder.
"""

from importlib import import_module

__version__ = "0.2.0"


def _app(module: str):
    """seqgen.app.<module>, imported on first call: this file runs before any submodule of the package,
    so importing the app layer here would load it (and hydra, the trainer...) for `import seqgen.core.x`
    and close a cycle through every layer. The one lazy import of the facade."""
    return import_module(f"seqgen.app.{module}")


def train(cfg) -> dict:
    """Train or fit the model a composed config names (see seqgen.app.train)."""
    return _app("train").train(cfg)


def sample(cfg) -> dict:
    """Sample from a checkpoint (see seqgen.app.sample)."""
    return _app("sample").sample(cfg)


def evaluate(values: dict) -> dict:
    """Evaluate a checkpoint in comparable units (see seqgen.app.evaluate)."""
    return _app("evaluate").evaluate(values)


def load_model(path, device="cpu"):
    """(model, tokenizer, checkpoint state) from a checkpoint file alone."""
    return _app("load").load_model(path, device)


def from_pretrained(name, device="cpu"):
    """A model ready to sample (`.sample(...)`, `.evaluate(...)`, `.save_pretrained(dir)`, `.push_to_hub(repo)`)
    from a pretrained folder, a checkpoint file or a Hub id ("user/repo", "user/repo@revision")."""
    return _app("pretrained").from_pretrained(name, device)


def save_pretrained(source, out, **kw):
    """Write a pretrained folder (config.json, model.safetensors, tokenizer / palette, README.md model card)
    from a checkpoint file, folder or Hub id (see seqgen.app.pretrained.save_pretrained)."""
    return _app("pretrained").save_pretrained(source, out, **kw)


def compose(overrides: list[str]):
    """The config scripts/train.py builds from these command-line overrides (for notebooks)."""
    return _app("cli").compose(overrides)
