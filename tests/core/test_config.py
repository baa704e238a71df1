"""Config composition and validation: every experiment composes; typos name the key and the valid ones."""

from dataclasses import fields

import pytest
import yaml

from seqgen import families
from seqgen.app.train import resolve
from seqgen.core.errors import ConfigError
from tests.conftest import CONFIGS, compose, run_script

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    spec = resolve(compose([f"experiment={experiment}"]))[0]
    assert spec.run_name == experiment
    assert spec.trainer.max_steps > 0


def test_documented_commands_get_distinct_run_folders():
    """README's `train.py`, `logger=wandb|tensorboard|all` and `experiment=...` commands used to share
    outputs/gpt_shakespeare_char, so the later ones resumed a finished run or were refused."""
    cases = [[], ["logger=wandb"], ["logger=tensorboard"], ["logger=all"],
             *([f"experiment={e}"] for e in EXPERIMENTS), ["experiment=gpt_shakespeare_char", "logger=wandb"]]
    for model in ("ngram", "text2pixel", "upsampler", "video_texture", "visual_prompt", "word2vec"):
        cases.append([f"model={model}", f"data={_data_for(model)}"])
    names = [resolve(compose(c))[0].run_name for c in cases]
    assert len(set(names)) == len(names), sorted(names)
    assert names[:4] == ["gpt_on_shakespeare_char", "gpt_on_shakespeare_char_wandb", "gpt_on_shakespeare_char_tb",
                         "gpt_on_shakespeare_char_wandb_tb"]
    assert resolve(compose(["logger=wandb", "run_name=mine"]))[0].run_name == "mine"


@pytest.mark.parametrize("model, experiment, settings", [
    ("text2pixel", "text2pixel_shapes", ("guidance",)), ("upsampler", "upsampler_shapes", ("decode",)),
    ("visual_prompt", "visual_prompt_shapes", ())])
def test_model_groups_are_the_current_recipes_models(model, experiment, settings):
    """Plain model=text2pixel / upsampler / visual_prompt gave the superseded models (patch 1 with
    guidance 3, the block upsampler, the first visual-prompting model); only experiment= gave the
    README's. The model group's defaults are now the recipe's model."""
    recipe = resolve(compose([f"experiment={experiment}"]))[0]
    plain = resolve(compose([f"model={model}", f"data={recipe.data.name}"]))[0]
    assert plain.model == recipe.model
    for k in settings:
        assert getattr(plain.settings, k) == getattr(recipe.settings, k), k


def test_the_model_config_is_kept_typed():
    """RunSpec.model is the model's validated Config (it was validated, then thrown away, so tasks re-read
    raw keys with defaults written again); the fields the data fills keep their defaults until the task
    fills them (dataclasses.replace), and model_params(), what a resume compares, leaves them out."""
    from seqgen.core.optim import OptimConfig
    from seqgen.core.tracking import LoggerConfig
    from seqgen.core.trainer import TrainerConfig

    fam = families.get("text2pixel")
    spec = resolve(compose(["model=text2pixel", f"data={_data_for('text2pixel')}", "model.patch=4"]))[0]
    assert isinstance(spec.model, fam.Model.Config) and spec.model.patch == 4
    assert spec.model.n_colors == fam.Model.Config.n_colors   # derived: filled by the task
    assert set(spec.model_params()) == {f.name for f in fields(fam.Model.Config)} - set(fam.derived)
    assert spec.model_params()["patch"] == 4
    assert isinstance(spec.optim, OptimConfig) and isinstance(spec.trainer, TrainerConfig)
    assert isinstance(spec.logger, LoggerConfig) and isinstance(spec.settings, fam.Settings)
    with pytest.raises(ConfigError, match="model.patch=3"):
        resolve(compose(["model=text2pixel", f"data={_data_for('text2pixel')}", "model.patch=3"]))


def _yaml(group, option):
    return yaml.safe_load((CONFIGS / group / f"{option}.yaml").read_text())


def _data_for(model_option):
    """A data option the model reads (the default dataset is text; image families need images)."""
    body = _yaml("model", model_option)
    fam = families.get(body["model"]["name"] if "model" in body else body["name"])
    return next(p.stem for p in sorted((CONFIGS / "data").glob("*.yaml"))
                if _yaml("data", p.stem)["name"] in fam.DataConfig.names())


@pytest.mark.parametrize("group", ["model", "data", "optim", "trainer", "logger"])
def test_every_group_option_composes(group):
    for option in sorted(p.stem for p in (CONFIGS / group).glob("*.yaml")):
        extra = [f"data={_data_for(option)}"] if group == "model" else []
        if group == "data":   # a model that reads this kind of data
            name = _yaml("data", option)["name"]
            extra = [f"model={next(f for f in families.FAMILIES if name in families.get(f).DataConfig.names())}"]
        resolve(compose([f"{group}={option}", *extra]))


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"model\.n_layers.*valid keys.*n_layer"):
        resolve(compose(["+model.n_layers=3"]))[0]
    with pytest.raises(ConfigError, match=r"trainer\.max_step'?\]?; valid keys"):
        resolve(compose(["+trainer.max_step=3"]))[0]


def test_wrong_type_is_clear():
    with pytest.raises(ConfigError, match=r"model\.n_layer='four': expected int"):
        resolve(compose(["model.n_layer=four"]))[0]
    spec = resolve(compose(["optim.lr=1"]))[0]  # an int where a float is expected is fine
    assert spec.optim.lr == 1.0


def test_help_lists_groups():
    out = run_script(["scripts/train.py", "--help"]).stdout
    for group in ("model", "data", "optim", "trainer", "logger", "experiment"):
        assert f"{group}:" in out, out


def test_cli_typo_is_an_error_listing_the_valid_keys(tmp_path):
    for typo, group in (("model.n_layers=3", "model"), ("trainer.max_step=3", "trainer"), ("seeed=3", "top-level")):
        res = run_script(["scripts/train.py", typo, f"out_root={tmp_path}"], check=False)
        assert res.returncode == 2, res.stderr
        assert typo.split("=")[0].split(".")[-1] in res.stderr and "valid" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and not list(tmp_path.iterdir())
