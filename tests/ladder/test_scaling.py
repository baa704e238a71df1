"""scripts/ladder.py --quick --only scaling: text2pixel at four sizes, the table, the claim and the picture."""

import json
import math

import pytest

from tests.conftest import run_script


@pytest.mark.timeout(1500)   # minutes on an idle 2-core machine; more under load
def test_scaling_quick_four_sizes(tmp_path):
    out = tmp_path / "results"
    run_script(["scripts/ladder.py", "--quick", "--only", "scaling", "--out-root", str(tmp_path / "runs"),
                "--data-root", str(tmp_path / "data"), "--out", str(out)], timeout=1400)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["key"].split("/")[-1] for r in rows] == ["scaling_shapes_1x16", "scaling_shapes_1x32",
                                                        "scaling_shapes_2x32", "scaling_shapes_2x48"]
    params = [r["num_params"] for r in rows]
    assert params == sorted(params) and params[-1] > 3 * params[0]
    for r in rows:
        assert math.isfinite(r["bits_per_pixel"]) and r["bits_per_pixel"] > 0
        assert 0 <= r["fidelity"] <= 1
    md = (out / "results.md").read_text()
    assert "Larger models attain better realism" in md and "(shapes): held-out bits" in md
    assert (out / "ladder_scaling_shapes.png").stat().st_size > 1000
