"""Prompts are taken verbatim: a comma, an apostrophe, a non-ASCII letter or `${...}` on the command
line reach the model as typed (they used to end in Hydra grammar errors, exit 1)."""

import pytest

from seqgen.app import cli
from seqgen.app.sample import sample
from seqgen.app.train import train
from seqgen.core.errors import ConfigError
from tests.conftest import TINY_TEXT, compose, run_script, tiny_overrides

LINE = "O Romeo, Romeo! What's up, Zoe? Cost: $5 {x}\n"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    corpus = {}
    for split in ("train", "valid", "test"):
        (root / f"{split}.txt").write_text(LINE * 20 + TINY_TEXT, encoding="utf-8")
        corpus[split] = str(root / f"{split}.txt")
    return train(compose(tiny_overrides(root, corpus, "trainer.max_steps=2")))["checkpoint"]


def test_prepare_argv_takes_free_text_out_of_hydras_hands():
    argv = ["sample.py", "ckpt=x.pt", "prompt=O Romeo, Romeo", "top_k=5", "prompt_file=a, b.txt"]
    assert cli.prepare_argv(argv=argv, verbatim=cli.VERBATIM) == ["sample.py", "++ckpt=x.pt", "++top_k=5"]
    assert cli.verbatim({"ckpt": "x.pt", "prompt": "\n", "top_k": 5}) == {
        "ckpt": "x.pt", "prompt": "O Romeo, Romeo", "top_k": 5, "prompt_file": "a, b.txt"}
    # the last one given wins; nothing is interpolated; an empty value stays empty; a value wrapped
    # whole in one pair of quotes (Hydra's quoting, accepted as before) loses them, other quotes stay
    cli.prepare_argv(argv=["s.py", "prompt=a", "prompt='${oops}' \"x\""], verbatim=cli.VERBATIM)
    assert cli.verbatim({})["prompt"] == "'${oops}' \"x\""
    cli.prepare_argv(argv=["s.py", "prompt='O Romeo, Romeo'"], verbatim=cli.VERBATIM)
    assert cli.verbatim({})["prompt"] == "O Romeo, Romeo"
    cli.prepare_argv(argv=["s.py", "prompt=\"What's up\""], verbatim=cli.VERBATIM)
    assert cli.verbatim({})["prompt"] == "What's up"
    cli.prepare_argv(argv=["s.py", "prompt="], verbatim=cli.VERBATIM)
    assert cli.verbatim({})["prompt"] == ""
    cli.prepare_argv(argv=["s.py"], verbatim=cli.VERBATIM)
    assert cli.verbatim({"prompt": "\n"}) == {"prompt": "\n"}


@pytest.mark.parametrize("prompt, starts", [("O Romeo, Romeo", "O Romeo, Romeo"), ("What's up ${x}", "What's up ${x}"),
                                            ("Zoë", "Zoe")])
def test_sample_script_takes_the_prompt_as_typed(ckpt, tmp_path, prompt, starts):
    out = tmp_path / "s.txt"
    res = run_script(["scripts/sample.py", f"ckpt={ckpt}", f"prompt={prompt}", "max_new_tokens=5",
                      f"out={out}"], check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.read_text(encoding="utf-8").startswith(starts)
    if prompt == "Zoë":    # the tiny vocabulary has no 'ë': read as its base letter, said once
        assert res.stdout.count("'ë' -> 'e'") == 1, res.stdout


def test_prompt_file(ckpt, tmp_path):
    pf = tmp_path / "p.txt"
    pf.write_text("O Romeo,\nRomeo", encoding="utf-8")
    out = tmp_path / "s.txt"
    res = sample({"ckpt": str(ckpt), "prompt_file": str(pf), "max_new_tokens": 3, "out": str(out)})
    assert res["texts"][0].startswith("O Romeo,\nRomeo")
    with pytest.raises(ConfigError, match="not both"):
        sample({"ckpt": str(ckpt), "prompt_file": str(pf), "prompt": "x", "out": str(out)})
    with pytest.raises(ConfigError, match="prompt_file=.*missing.txt"):
        sample({"ckpt": str(ckpt), "prompt_file": str(tmp_path / "missing.txt"), "out": str(out)})
