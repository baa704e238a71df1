"""Adding a family is a folder, a model YAML and one registry name (shown, not claimed).

The repository is copied to a temporary folder, tests/example_family (a neural bigram) is added to the
copy the way docs/architecture.md describes, and the bigram is trained, sampled and evaluated through
the real scripts. Then the copy is compared with the tree: nothing else may have changed.
"""

import filecmp
import json
import os
import re
import shutil
from pathlib import Path

from tests.conftest import ROOT, TINY_TEXT, run_script

EXAMPLE = ROOT / "tests" / "example_family"
COPIED = ("seqgen", "configs", "scripts")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for top in COPIED for p in (root / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_a_new_family_trains_samples_and_evaluates_through_the_scripts(tmp_path):
    repo = tmp_path / "repo"
    for top in COPIED:
        shutil.copytree(ROOT / top, repo / top, ignore=shutil.ignore_patterns("__pycache__"))
    # 1. the folder, 2. the model YAML, 3. one name in the registry
    shutil.copytree(EXAMPLE / "bigram", repo / "seqgen" / "families" / "bigram")
    shutil.copyfile(EXAMPLE / "bigram.yaml", repo / "configs" / "model" / "bigram.yaml")
    registry = repo / "seqgen" / "families" / "__init__.py"
    text, n = re.subn(r'FAMILIES = \(([^)]*)\)', r'FAMILIES = (\1, "bigram")', registry.read_text())
    assert n == 1
    registry.write_text(text)

    corpus = repo / "text.txt"   # inside the working folder: evaluate.py may read what the checkpoint names
    corpus.write_text(TINY_TEXT)
    env = {"PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}   # the copy's seqgen
    run_script(["scripts/train.py", "model=bigram", "data=text_files", f"data.train={corpus}", "trainer=smoke",
                "trainer.max_steps=30", "optim.lr=0.1", "optim.warmup_steps=0", f"out_root={tmp_path / 'out'}",
                f"data_root={tmp_path / 'data'}", "run_name=bi"], cwd=repo, env=env)
    ckpt = tmp_path / "out" / "bi" / "checkpoints" / "last.pt"
    out = tmp_path / "s.txt"
    res = run_script(["scripts/sample.py", f"ckpt={ckpt}", "prompt=First", "max_new_tokens=40", f"out={out}"],
                     cwd=repo, env=env)
    assert "written to" in res.stdout and out.read_text().startswith("First") and len(out.read_text()) == 45
    res = run_script(["scripts/evaluate.py", f"ckpt={ckpt}", f"data_root={tmp_path / 'data'}"], cwd=repo, env=env)
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    V = len(set(TINY_TEXT))
    assert 0 < figures["bpc"] < 0.9 * __import__("math").log2(V)   # learned something beyond uniform

    # nothing else in the copy differs from the tree
    added = {"configs/model/bigram.yaml", *(f"seqgen/families/bigram/{p.name}" for p in (EXAMPLE / "bigram").iterdir()
                                            if p.is_file())}
    assert _files(repo) - _files(ROOT) == added
    assert not _files(ROOT) - _files(repo)
    changed = [f for f in _files(ROOT) if not filecmp.cmp(ROOT / f, repo / f, shallow=False)]
    assert changed == ["seqgen/families/__init__.py"]
