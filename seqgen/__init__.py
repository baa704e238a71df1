"""seqgen: autoregressive token models over words and pixels.

Nothing runs at import: registries are plain dicts filled by explicit imports in
`seqgen.models`, and heavy optional packages (wandb, tensorboard, datasets) are imported lazily.
"""

__version__ = "0.1.0"
