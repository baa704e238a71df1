"""Run settings are read back typed, never as raw dicts with a default written again: `.get("<key>",
<literal>)` on a key of a family's Settings, a model Config or the optim / trainer / logger groups is an
error anywhere in seqgen/ (issue 29). A checkpoint's settings come from `Family.settings_of(state)` (or
the family's `settings.settings_of`), its data config from `Family.data_of(state)`, a run's from the
typed RunSpec: each default lives in one dataclass."""

import ast
from dataclasses import fields
from pathlib import Path

from seqgen import families
from seqgen.core.optim import OptimConfig
from seqgen.core.tracking import LoggerConfig
from seqgen.core.trainer import TrainerConfig
from tests.conftest import ROOT

# reads that match the pattern but are not of a checkpoint's settings: (file, key) -> why
ALLOWED = {
    ("seqgen/app/sample.py", "device"): "sample.py's own command-line key",
    ("seqgen/app/evaluate.py", "device"): "evaluate.py's own command-line key",
    ("seqgen/app/evaluate.py", "seed"): "a checkpoint without a run config (imported from another tool) has no "
                                        "training seed to reuse: evaluate.py then draws with 0",
    ("seqgen/families/gpt/hf.py", "rope_theta"): "a transformers config.json, not a seqgen checkpoint",
    ("seqgen/ladder/report.py", "guidance"): "a row of evaluate.py's figures (rows of runs before the figure "
                                             "existed used guidance 3)",
}


def settings_keys() -> set[str]:
    """Every key a run's settings can hold: the families' Settings, their model Configs (less the fields
    the data fills: those are not settings) and the shared groups."""
    keys = set()
    for name in families.FAMILIES:
        fam = families.get(name)
        keys |= {f.name for f in fields(fam.Settings)} if fam.Settings else set()
        keys |= {f.name for f in fields(fam.Model.Config) if f.name not in fam.derived}
    for group in (OptimConfig, TrainerConfig, LoggerConfig):
        keys |= {f.name for f in fields(group)}
    return keys


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set))


def literal_default_reads(paths, keys: set[str], root: Path = ROOT) -> list[str]:
    """'file:line  code' for each `<x>.get("<key>", <literal>)` with key in keys, outside ALLOWED."""
    out = []
    for path in paths:
        rel = Path(path).resolve().relative_to(root.resolve()).as_posix() if Path(path).is_absolute() else str(path)
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and len(node.args) == 2 and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value in keys and _literal(node.args[1])
                    and (rel, node.args[0].value) not in ALLOWED):
                out.append(f"{rel}:{node.lineno}  {ast.unparse(node)}")
    return out


def test_no_settings_read_with_a_literal_default():
    bad = literal_default_reads(sorted((ROOT / "seqgen").rglob("*.py")), settings_keys())
    assert not bad, ("settings read from a raw dict with a default written again; use Family.settings_of(state) / "
                     "data_of(state) or the typed RunSpec:\n" + "\n".join(bad))


def test_the_scan_catches_a_planted_read(tmp_path):
    """The scan can fail: a module reading a checkpoint's guidance the old way is reported, with its line."""
    planted = tmp_path / "planted.py"
    planted.write_text('def guidance(state):\n'
                       '    return ((state.get("config") or {}).get("text2pixel") or {}).get("guidance", 3.0)\n'
                       'def retries(st):\n    return st.get("retries", -1)\n'
                       'def fine(st):\n    return st.get("retries"), st.get("not_a_setting", 0), st.get("top_k", st)\n')
    found = literal_default_reads([planted], settings_keys(), root=tmp_path)
    assert [f.split("  ")[0] for f in found] == ["planted.py:2", "planted.py:4"], found


def test_allowed_reads_still_exist():
    """An ALLOWED entry whose read is gone is stale: remove it, so the list never hides a new read."""
    keys = settings_keys()
    for (file, key), why in ALLOWED.items():
        assert key in keys, (file, key)
        text = (ROOT / file).read_text(encoding="utf-8")
        assert f'.get("{key}", ' in text, f"{file}: no .get({key!r}, ...) left; drop it from ALLOWED ({why})"
