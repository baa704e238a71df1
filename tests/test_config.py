"""Config composition and validation: every experiment composes; typos name the key and the valid ones."""


import pytest

from seqgen.config import ConfigError, parse
from tests.conftest import CONFIGS, compose, run_script

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    spec = parse(compose([f"experiment={experiment}"]))
    assert spec.run_name == experiment
    assert spec.trainer.max_steps > 0


@pytest.mark.parametrize("group", ["model", "data", "optim", "trainer", "logger"])
def test_every_group_option_composes(group):
    for option in sorted(p.stem for p in (CONFIGS / group).glob("*.yaml")):
        parse(compose([f"{group}={option}"]))


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"model\.n_layers.*valid keys.*n_layer"):
        parse(compose(["+model.n_layers=3"]))
    with pytest.raises(ConfigError, match=r"trainer\.max_step'?\]?; valid keys"):
        parse(compose(["+trainer.max_step=3"]))


def test_wrong_type_is_clear():
    with pytest.raises(ConfigError, match=r"model\.n_layer='four': expected int"):
        parse(compose(["model.n_layer=four"]))
    spec = parse(compose(["optim.lr=1"]))  # an int where a float is expected is fine
    assert spec.optim.lr == 1.0


def test_help_lists_groups():
    out = run_script(["scripts/train.py", "--help"]).stdout
    for group in ("model", "data", "optim", "trainer", "logger", "experiment"):
        assert f"{group}:" in out, out


def test_cli_typo_is_an_error():
    res = run_script(["scripts/train.py", "model.n_layers=3", "--cfg", "job"], check=False)
    assert res.returncode != 0 and "n_layers" in res.stderr
