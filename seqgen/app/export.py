"""export(values): the export verb. A checkpoint out to another tool's format (the formats its family
lists: ARPA for n-grams, word2vec text / binary), or another tool's file in as a checkpoint
(`<key>=FILE format=checkpoint`, for a key some family imports, e.g. arpa=)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen import families
from seqgen.app.load import load_model
from seqgen.core.errors import ConfigError
from seqgen.core.rundir import check_out


@dataclass
class ExportConfig:
    ckpt: str | None = None
    format: str = "arpa"      # a format of the checkpoint's family, or checkpoint (import a file)
    out: str | None = None


def _importers() -> dict:
    """{key: (family, import function)} over every registered family."""
    out = {}
    for name in families.FAMILIES:
        for key, fn in families.get(name).importers.items():
            out[key] = (name, fn)
    return out


def export(values: dict) -> Path:
    values = dict(values)
    imports = {k: values.pop(k) for k in list(values) if k not in ExportConfig.__dataclass_fields__}
    from seqgen.core.config import build

    cfg = build(ExportConfig, values, "export")
    if not cfg.out:
        raise ConfigError("out=FILE is required")
    check_out(cfg.out)
    importers = _importers()
    unknown = sorted(set(imports) - set(importers))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}; valid: {sorted(ExportConfig.__dataclass_fields__)} and, "
                          f"with format=checkpoint, {sorted(importers)}")
    if cfg.format == "checkpoint":
        given = {k: v for k, v in imports.items() if v}
        if len(given) != 1:
            raise ConfigError("format=checkpoint needs exactly one file to import: "
                              + " or ".join(f"{k}=PATH" for k in importers))
        (key, path), = given.items()
        return importers[key][1](path, cfg.out)
    if not cfg.ckpt:
        raise ConfigError(f"format={cfg.format} needs ckpt=PATH")
    model, _, state = load_model(cfg.ckpt)
    fam = families.get(state["model_name"])
    if cfg.format not in fam.exporters:
        raise ConfigError(f"{cfg.ckpt} holds a '{fam.name}' model, which exports to "
                          f"{sorted(fam.exporters) or 'no other format'}; format={cfg.format!r} is not one of them")
    return fam.exporters[cfg.format](model, state, cfg.out)
