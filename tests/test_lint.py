"""The linter is part of the test command: ruff with the rules and line length in pyproject.toml."""

import importlib.util
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_ruff_is_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed: bash scripts/setup.sh installs it with the dev extras")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "seqgen", "scripts", "tests"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_declared_dependency_is_imported():
    """pyproject.toml names no package that nothing in seqgen/ or scripts/ imports."""
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = [") : text.index("]", text.index("dependencies = ["))]
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block, flags=re.M)
    import_names = {"pillow": "PIL", "hydra-core": "hydra", "scikit-image": "skimage",
                    "tensorboard": "torch.utils.tensorboard"}
    source = "\n".join(p.read_text() for top in ("seqgen", "scripts") for p in (ROOT / top).rglob("*.py"))
    unused = [n for n in names if not any(f"{kw} {import_names.get(n, n).replace('-', '_')}" in source
                                          for kw in ("import", "from"))]
    assert not unused, f"declared in pyproject.toml but imported nowhere: {unused}"
    assert sys.version_info >= (3, 10)
