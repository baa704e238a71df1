"""End to end: train -> checkpoint -> sample through the real scripts; exact resume; kill -9; multirun."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqgen.app.load import load_model
from seqgen.app.train import train
from seqgen.core import checkpoint as ckpt
from tests.conftest import ROOT, compose, run_script, tiny_overrides


def test_train_then_sample_through_scripts(tmp_path, corpus):
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus)])
    last = tmp_path / "out" / "t" / "checkpoints" / "last.pt"
    assert f"checkpoint: {last}" in res.stdout
    for name in ("config.yaml", "metrics.jsonl", "tokenizer.json"):
        assert (tmp_path / "out" / "t" / name).is_file()
    assert len(ckpt.list_steps(last.parent)) == 2  # steps 4 and 8 (keep_last=2)
    out = tmp_path / "s.txt"
    res = run_script(["scripts/sample.py", f"ckpt={last}", "prompt=First", "num_samples=2",
                      "max_new_tokens=30", "seed=3", f"out={out}"])
    assert "written to" in res.stdout
    texts = out.read_text().split("\n" + "-" * 40 + "\n")
    assert len(texts) == 2 and all(t.startswith("First") and len(t) == 35 for t in texts)
    again = tmp_path / "s2.txt"
    run_script(["scripts/sample.py", f"ckpt={last}", "prompt=First", "num_samples=2",
                "max_new_tokens=30", "seed=3", f"out={again}"])
    assert again.read_text() == out.read_text()  # same seed, same text


def test_checkpoint_is_plain_and_rebuilds_model(tmp_path, corpus):
    result = train(compose(tiny_overrides(tmp_path, corpus)))
    state = torch.load(result["checkpoint"], weights_only=True)  # no pickled classes inside
    assert state["model_name"] == "gpt" and state["step"] == 8
    model, tok, _ = load_model(result["checkpoint"])
    x = torch.tensor([tok.encode("First Citizen")])
    assert torch.allclose(model(x), result["model"].eval()(x), atol=1e-6)


def test_truncated_and_foreign_checkpoints_are_clear_errors(tmp_path, corpus):
    result = train(compose(tiny_overrides(tmp_path, corpus)))
    data = result["checkpoint"].read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="truncated.pt.*truncated, corrupt"):
        ckpt.load(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(ckpt.CheckpointError, match="foreign.pt is not a seqgen checkpoint"):
        ckpt.load(foreign)
    res = run_script(["scripts/sample.py", f"ckpt={bad}"], check=False)
    assert res.returncode == 2 and "truncated.pt" in res.stderr


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("extra", [[], ["trainer.grad_accum=2"]])
def test_exact_resume(tmp_path, corpus, extra):
    """N steps, stop, resume N more == 2N straight: identical parameters (dropout on, so RNG matters)."""
    common = ["model.dropout=0.1", "optim.decay_steps=8", "optim.warmup_steps=2", *extra]
    straight = train(compose(tiny_overrides(tmp_path / "a", corpus, *common, "trainer.max_steps=8")))
    train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=4")))
    resumed = train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=8")))
    assert resumed["step"] == 8
    a, b = _params(straight["model"]), _params(resumed["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_model_and_never_overwrites(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    from seqgen.core.errors import ConfigError

    with pytest.raises(ConfigError, match="model.n_layer: 2 there, 3 now"):
        train(compose(tiny_overrides(tmp_path, corpus, "model.n_layer=3")))
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(compose(tiny_overrides(tmp_path, corpus, "trainer.resume=never")))


def test_kill_9_then_resume(tmp_path, corpus):
    args = [sys.executable, "scripts/train.py",
            *tiny_overrides(tmp_path, corpus, "trainer.max_steps=100000", "trainer.ckpt_every=10",
                            "trainer.eval_every=0", "trainer.log_every=10")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = tmp_path / "out" / "t" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and len(ckpt.list_steps(ckpt_dir)) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = ckpt.load(ckpt.latest(ckpt_dir))["step"]
    assert saved >= 20
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, f"trainer.max_steps={saved + 10}",
                                                           "trainer.ckpt_every=10", "trainer.resume=auto")])
    assert f"(step {saved})" in res.stdout
    assert ckpt.load(ckpt_dir / "last.pt")["step"] == saved + 10


def test_multirun_gives_each_run_its_own_dir(tmp_path, corpus):
    run_script(["scripts/train.py", "-m", "model.n_layer=1,2",
                *tiny_overrides(tmp_path, corpus, "trainer.max_steps=2", "trainer.ckpt_every=2")])
    dirs = sorted(p.name for p in (tmp_path / "out" / "t").iterdir() if p.is_dir())
    assert dirs == ["0", "1"], dirs
    for d in dirs:
        state = ckpt.load(tmp_path / "out" / "t" / d / "checkpoints" / "last.pt")
        assert state["model_config"]["n_layer"] == int(d) + 1


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
def test_train_word_and_bpe_tokenizers(tmp_path, corpus, tokenizer):
    """text_files splits words on whitespace: the default "\\n" sample prompt must not break the run."""
    result = train(compose(tiny_overrides(tmp_path, corpus, f"data.tokenizer={tokenizer}",
                                          "data.bpe_vocab_size=300")))
    assert result["step"] == 8 and result["metrics"]["val/bpc"] > 0
    assert (result["run_dir"] / "samples" / "step_0000008.txt").read_text().strip()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_and_sample_on_cuda(tmp_path, corpus):
    result = train(compose(tiny_overrides(tmp_path, corpus, "trainer.device=cuda")))
    model, tok, _ = load_model(result["checkpoint"], "cuda")
    assert next(model.parameters()).is_cuda and result["metrics"]["val/loss"] > 0
