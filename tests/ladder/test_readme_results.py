"""README's results section shares its numbers with docs/results.md: its tables are generated from
docs/results.json (`python scripts/ladder.py --readme`), and README must hold them verbatim."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section(text: str) -> str:
    """README's results section up to its first subsection (the model zoo has its own test)."""
    start = text.index("\n## Results\n")
    return text[start:text.index("\n#", start + 5)]


def test_readme_results_tables_match_docs_results():
    from seqgen.ladder.text_report import readme_tables

    rows = json.loads((ROOT / "docs" / "results.json").read_text(encoding="utf-8"))["rows"]
    tables = readme_tables(rows).strip().split("\n\n")   # Shakespeare, then wordmix
    assert len(tables) == 2 and all(t.count("|") > 20 for t in tables)
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"))
    for table in tables:
        assert table + "\n" in section, \
            "README's results tables differ from docs/results.json: paste `python scripts/ladder.py --readme`"


def test_every_readme_result_table_number_is_in_results_md():
    """Each figure in README's results tables (three or more decimals) is printed in docs/results.md."""
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"))
    results = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table_lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    numbers = {n for ln in table_lines for n in re.findall(r"\d+\.\d{3,}", ln)}
    assert numbers
    assert not {n for n in numbers if n not in results}
