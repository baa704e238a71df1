"""export(values): the export verb. A checkpoint out to another tool's format (the formats its family
lists: ARPA for n-grams, word2vec text / binary, a transformers folder for the GPT), to a pretrained
folder (`format=pretrained`, every family: config.json + model.safetensors + model card), or another
tool's file in as a checkpoint (`<key>=FILE format=checkpoint`, for a key some family imports, e.g.
arpa=, hf=). `push_to_hub=user/repo` uploads the folder written."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgen import families
from seqgen.app import hub
from seqgen.app.load import load_model
from seqgen.app.pretrained import save_pretrained
from seqgen.core.errors import ConfigError
from seqgen.core.rundir import check_out
from seqgen.core.schema import build


@dataclass
class ExportConfig:
    ckpt: str | None = None   # a checkpoint file, a pretrained folder or hf:user/repo[@revision]
    format: str = "arpa"      # pretrained, a format of the checkpoint's family, or checkpoint (import a file)
    out: str | None = None
    push_to_hub: str | None = None   # user/repo: upload the folder written (pretrained / hf_transformers)
    private: bool = False            # a new Hub repo is private
    evaluate: bool = True            # format=pretrained: the model card reports held-out figures
    data_root: str = "data"          # where evaluate finds the run's prepared data
    license: str = "mit"             # the model card's licence field
    overwrite: bool = False          # a folder format onto an earlier export's folder: replace its files


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

    cfg = build(ExportConfig, values, "export")
    if not cfg.out and not cfg.push_to_hub:
        raise ConfigError("out=FILE (or push_to_hub=user/repo) is required")
    if not cfg.out:
        with tempfile.TemporaryDirectory() as tmp:
            return _export(cfg, imports, str(Path(tmp) / cfg.push_to_hub.split("/")[-1]))
    # its folder made and writable before any work; onto an existing folder only the folder formats write
    check_out(cfg.out, folder_ok=cfg.format in FOLDER_FORMATS)
    if cfg.format in FOLDER_FORMATS:
        _check_folder_out(Path(cfg.out), cfg)
    try:
        return _export(cfg, imports, cfg.out)
    except IsADirectoryError:
        raise ConfigError(f"out={cfg.out} is a folder; format={cfg.format} writes one file: give a file name") from None


FOLDER_FORMATS = ("pretrained", "hf_transformers")   # formats that write a folder (the others write one file)


def _check_folder_out(out: Path, cfg: ExportConfig) -> None:
    """A folder format writes a new or empty folder; onto an earlier export (it has a config.json) only
    with overwrite=true, which first removes that export's files (so no file of the old model stays
    beside the new one, e.g. an n-gram's model.arpa beside a GPT); never into an unrelated folder."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file; format={cfg.format} writes a folder: give a folder name")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not held:
        return
    listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
    if not (out / "config.json").is_file():
        raise ConfigError(f"out={out} is a folder holding other files ({listed}); format={cfg.format} writes "
                          f"a folder of its own: give a new or empty folder")
    if not cfg.overwrite:
        raise ConfigError(f"out={out} holds an earlier export ({listed}); give a new folder, or overwrite=true "
                          f"to replace it")
    for p in out.iterdir():
        if p.is_file() or p.is_symlink():
            p.unlink()


def _export(cfg: ExportConfig, imports: dict, out: str):
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
        return importers[key][1](path, out)
    if not cfg.ckpt:
        raise ConfigError(f"format={cfg.format} needs ckpt=PATH (a checkpoint, pretrained folder or hf:user/repo)")
    loaded = load_model(cfg.ckpt)
    fam = families.get(loaded[2]["model_name"])
    if cfg.format == "pretrained":
        path = save_pretrained(loaded, out, evaluate=cfg.evaluate, data_root=cfg.data_root, license=cfg.license)
    elif cfg.format in fam.exporters:
        path = fam.exporters[cfg.format](loaded[0], loaded[2], out)
    else:
        raise ConfigError(f"{cfg.ckpt} holds a '{fam.name}' model, which exports to "
                          f"{sorted(['pretrained', *fam.exporters])}; format={cfg.format!r} is not one of them")
    if cfg.push_to_hub:
        if not Path(path).is_dir():
            raise ConfigError(f"push_to_hub uploads a folder; format={cfg.format} writes one file ({path}): "
                              f"use format=pretrained")
        print(f"[seqgen] pushed {path} to {cfg.push_to_hub}: {hub.push(path, cfg.push_to_hub, cfg.private)}",
              flush=True)
    return Path(path)
