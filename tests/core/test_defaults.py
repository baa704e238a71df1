"""Each default is written once: a YAML that names a dataclass's key gives it the dataclass's default
(the default group options, every family's own model YAML and settings block, the scripts' YAMLs)."""

from dataclasses import MISSING, fields

import pytest
import yaml

from seqgen import families
from tests.conftest import CONFIGS


def _defaults(cls) -> dict:
    return {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(cls)
            if f.default is not MISSING or f.default_factory is not MISSING}


def _check(values: dict, cls, where):
    defaults = _defaults(cls)
    unknown = sorted(set(values) - set(defaults))
    assert not unknown, f"{where}: keys {unknown} are not fields of {cls.__name__}"
    differ = {k: (v, defaults[k]) for k, v in values.items()
              if not (isinstance(v, str) and v.startswith("${")) and v != defaults[k]}
    assert not differ, f"{where}: YAML value != {cls.__name__} default: {differ}"


def _yaml(path):
    return {k: v for k, v in yaml.safe_load(path.read_text()).items() if k not in ("defaults", "hydra")}


def _scripts():
    from seqgen.app.evaluate import EvaluateConfig
    from seqgen.app.export import ExportConfig
    from seqgen.app.sample import SampleConfig
    from seqgen.core.optim import OptimConfig
    from seqgen.core.tracking import LoggerConfig
    from seqgen.core.trainer import TrainerConfig
    from seqgen.texture.run import SynthConfig

    return [("trainer/default.yaml", TrainerConfig, True), ("optim/adamw.yaml", OptimConfig, True),
            ("logger/none.yaml", LoggerConfig, False), ("sample.yaml", SampleConfig, True),
            ("evaluate.yaml", EvaluateConfig, True), ("export.yaml", ExportConfig, True),
            ("synthesize.yaml", SynthConfig, True)]


@pytest.mark.parametrize("path, cls, complete", _scripts(), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_default_yaml_equals_its_dataclass(path, cls, complete):
    values = _yaml(CONFIGS / path)
    _check(values, cls, path)
    if complete:   # the default option lists every key, so `--cfg job` shows them all
        assert set(values) == set(_defaults(cls)), f"{path} lacks {sorted(set(_defaults(cls)) - set(values))}"


@pytest.mark.parametrize("name", families.FAMILIES)
def test_family_model_yaml_equals_its_config_and_settings(name):
    fam = families.get(name)
    body = yaml.safe_load((CONFIGS / "model" / f"{name}.yaml").read_text())
    model = dict(body["model"] if "model" in body else body)
    assert model.pop("name") == name
    assert not set(model) & set(fam.derived), f"{name}.yaml sets data-derived keys"
    _check(model, fam.Model.Config, f"model/{name}.yaml")
    if fam.Settings is not None:
        _check(body[name], fam.Settings, f"model/{name}.yaml, block {name}:")
        assert set(body[name]) == set(_defaults(fam.Settings))
