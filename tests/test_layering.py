"""The package's shape, checked from its source with ast (function-local imports count):
no import cycle, imports only flow core <- nn <- data <- texture <- families <- app <- ladder <- bench, a
family never imports a sibling, and no module outside the families and the benches branches on a family's
name (a bench measures named families by design, as the scripts it came from did)."""

import ast
from pathlib import Path

import pytest

from seqgen.families import FAMILIES

PKG = Path(__file__).resolve().parents[1] / "seqgen"
# a layer may import the layers with a lower number (and itself); the package root is the facade
LAYERS = {"core": 0, "nn": 1, "data": 2, "texture": 3, "families": 4, "app": 5, "ladder": 6, "bench": 7}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path) -> set[str]:
    """Every seqgen module `name` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                parts = base.split(".")
                mod = ".".join(parts[: len(parts) - node.level + 1] + ([mod] if mod else []))
            targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
        else:
            continue
        for t in targets:
            if t.split(".")[0] == "seqgen":
                r = _resolve(t)
                # importing a submodule runs its package's __init__: not an edge of its own
                if r and r != name and not (name.startswith(r + ".") and MODULES[r].name == "__init__.py"):
                    out.add(r)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str):
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_no_import_cycle():
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):   # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_follow_the_layers():
    wrong = []
    for name, targets in GRAPH.items():
        mine = _layer(name)
        if mine is None:   # the package facade may import anything
            continue
        for t in targets:
            theirs = _layer(t)
            if theirs is None or theirs > mine:
                wrong.append(f"{name} -> {t}")
    assert not wrong, "imports against the layer direction:\n" + "\n".join(wrong)


def test_a_family_never_imports_a_sibling():
    wrong = []
    for name, targets in GRAPH.items():
        parts = name.split(".")
        if len(parts) > 3 and parts[1] == "families":
            for t in targets:
                tp = t.split(".")
                if tp[1] == "families" and len(tp) > 2 and tp[2] not in ("base", parts[2]):
                    wrong.append(f"{name} -> {t}")
    assert not wrong, "\n".join(wrong)


def _branches_on_a_family_name(tree) -> list[int]:
    """Line numbers of comparisons (==, !=, in, not in) against a registered family's name."""
    names = set(FAMILIES)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Compare, ast.MatchValue)):
            consts = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            if names & set(consts):
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(("seqgen.families.", "seqgen.bench"))))
def test_no_branch_on_a_model_name_outside_the_families(name):
    lines = _branches_on_a_family_name(ast.parse(MODULES[name].read_text()))
    assert not lines, f"{MODULES[name]} compares against a family name at lines {lines}"


def test_the_checker_catches_what_it_should():
    assert _branches_on_a_family_name(ast.parse('if state["model_name"] == "gpt":\n    pass'))
    assert _branches_on_a_family_name(ast.parse('x = name in ("ngram", "word2vec")'))
    assert not _branches_on_a_family_name(ast.parse('x = {"gpt": 1}["gpt"]'))
