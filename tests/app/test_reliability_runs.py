"""Nothing lost, nothing silent (runs): the run-folder lock, exact resume with dropout, edited data,
refused resumes that leave the folder alone, SIGTERM, kill -9 and replayed metrics, a frozen DDP rank."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqgen.app.train import train
from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import ConfigError
from seqgen.core.rundir import RunLock
from tests.conftest import ROOT, compose, run_script, tiny_overrides


def _popen(args, **kw):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


def _wait_for(proc, text, timeout=120):
    """Read proc's output until `text` appears (-> the lines so far)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never appeared:\n{''.join(seen)}")


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path, corpus):
    args = ["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=100000", "trainer.ckpt_every=50")]
    first = _popen(args)
    try:
        _wait_for(first, "step ")
        second = run_script(args, check=False)
        assert second.returncode == 2, second.stderr
        assert f"PID {first.pid}" in second.stderr and "in use by another run" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    # the OS dropped the killed holder's lock: the folder is free again, without cleaning anything
    with RunLock(tmp_path / "out" / "t"):
        pass


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"pid": 999999, "host": "gone", "since": "yesterday"}))
    with RunLock(run) as lock:
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(ConfigError, match=f"PID {os.getpid()}"):
            RunLock(run).acquire()
    assert lock.fd is None and not (run / ".lock").exists()


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("peak", ["null", "1e11"])
def test_resume_is_exact_with_dropout_and_the_flops_probe(tmp_path, corpus, peak):
    """N + N steps == 2N steps bit for bit, also when the MFU ceiling is measured (peak_flops=null)."""
    common = ["model.dropout=0.1", "optim.decay_steps=12", "optim.warmup_steps=2", f"trainer.peak_flops={peak}"]
    straight = train(compose(tiny_overrides(tmp_path / "a", corpus, *common, "trainer.max_steps=12")))
    train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=6")))
    resumed = train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=12")))
    a, b = _params(straight["model"]), _params(resumed["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_caption_dropout_resume_is_exact(tmp_path):
    common = ["experiment=text2pixel_shapes", "trainer=smoke", "trainer.batch_size=2", "data.n_train=16",
              "data.n_valid=2", "data.n_test=2", "model.n_layer=1", "model.n_embd=16", "model.n_head=2",
              "model.caption_dropout=0.5", "text2pixel.fidelity_images=0", "text2pixel.eval_images=2",
              "text2pixel.baseline=false", "trainer.eval_every=0", "optim.decay_steps=8", f"data_root={tmp_path}/d"]
    straight = train(compose([*common, f"out_root={tmp_path}/a", "trainer.max_steps=8"]))
    train(compose([*common, f"out_root={tmp_path}/b", "trainer.max_steps=4"]))
    resumed = train(compose([*common, f"out_root={tmp_path}/b", "trainer.max_steps=8"]))
    a, b = _params(straight["model"]), _params(resumed["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_edited_data_refuses_the_resume_and_evaluate_keeps_the_checkpoints_tokenizer(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    run = tmp_path / "out" / "t"
    before = _tree(run)
    for path in corpus.values():   # "A" disappears: a re-fitted character vocabulary would shift every id
        text = open(path).read()
        open(path, "w").write(text.replace("A", "a"))
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=16")], check=False)
    assert res.returncode == 2 and "data.train" in res.stderr and "changed since" in res.stderr, res.stderr
    assert _tree(run) == before                                 # nothing in the run folder was touched
    res = run_script(["scripts/evaluate.py", f"ckpt={run / 'checkpoints' / 'last.pt'}",
                      f"data_root={tmp_path / 'data'}", "split=valid"], check=False)
    assert res.returncode == 2 and "data.train, data.valid, data.test changed since training" in res.stderr
    again = [f"data.{k}={v}" for k, v in corpus.items()]     # files outside the working folder: named again
    res = run_script(["scripts/evaluate.py", f"ckpt={run / 'checkpoints' / 'last.pt'}",
                      f"data_root={tmp_path / 'data'}", "split=valid", *again])
    assert "differs from what" in res.stdout and "with the checkpoint's tokenizer" in res.stdout
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    from seqgen.app.load import load_model

    model, tok, _ = load_model(run / "checkpoints" / "last.pt")
    ids = torch.tensor(tok.encode(open(corpus["valid"]).read()))
    assert figures["tokens"] == len(ids) - 1                 # scored in the checkpoint's own ids


def test_a_refused_resume_leaves_the_run_folder_untouched(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    run = tmp_path / "out" / "t"
    before = _tree(run)
    other = tmp_path / "other.txt"
    other.write_text("Some entirely other text with zebras.\n" * 50)
    for extra in ([f"data.train={other}"], ["model.n_embd=48"], ["data.tokenizer=word"]):
        res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, *extra)], check=False)
        assert res.returncode == 2 and "another run_name" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert _tree(run) == before


def test_sigterm_saves_the_current_step_and_the_same_command_resumes(tmp_path, corpus):
    args = ["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=100000", "trainer.ckpt_every=0",
                                                "trainer.eval_every=0", "trainer.log_every=1")]
    proc = _popen(args)
    _wait_for(proc, "step 3/")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "stopped by SIGTERM at step" in out and "Traceback" not in out
    step = int(out.split("stopped by SIGTERM at step ")[1].split("/")[0])
    state = ckpt.load(tmp_path / "out" / "t" / "checkpoints" / "last.pt")
    assert state["step"] == step >= 3
    res = run_script(args[:1] + tiny_overrides(tmp_path, corpus, f"trainer.max_steps={step + 2}",
                                               "trainer.ckpt_every=0", "trainer.eval_every=0"))
    assert "resuming from" in res.stdout and f"(step {step})" in res.stdout


def test_kill_9_then_resume_keeps_one_metrics_row_per_step(tmp_path, corpus):
    args = ["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=100000", "trainer.ckpt_every=5",
                                                "trainer.log_every=1", "trainer.eval_every=0")]
    proc = _popen(args)
    _wait_for(proc, "step 8/")
    proc.kill()
    proc.wait()
    last = max(ckpt.list_steps(tmp_path / "out" / "t" / "checkpoints"), key=lambda p: p.name)
    resumed_from = ckpt.load(last)["step"]
    run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, f"trainer.max_steps={resumed_from + 4}",
                                                    "trainer.log_every=1", "trainer.eval_every=0")])
    rows = [json.loads(x) for x in (tmp_path / "out" / "t" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "train/loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == resumed_from + 4


def test_a_larger_max_steps_on_resume_is_warned_about(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=12")])
    assert "schedule was planned for 8 steps" in res.stdout and "optim.decay_steps=8" in res.stdout


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path, corpus):
    train(compose(tiny_overrides(tmp_path, corpus)))
    steps = ckpt.list_steps(tmp_path / "out" / "t" / "checkpoints")
    steps[-1].write_bytes(steps[-1].read_bytes()[:100])       # the newest (step 8) cut short
    res = run_script(["scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=10")])
    assert "trying the previous checkpoint" in res.stdout and "(step 4)" in res.stdout


def test_a_frozen_ddp_rank_ends_the_job_with_a_message(tmp_path, corpus):
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = [*torchrun, "scripts/train.py", *tiny_overrides(tmp_path, corpus, "trainer.max_steps=100000",
                                                          "trainer.ckpt_every=0", "trainer.eval_every=0",
                                                          "trainer.log_every=1", "trainer.ddp_timeout=4")]
    proc = _popen(args)
    workers = []
    try:
        _wait_for(proc, "step 2/")
        workers = [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                                                  capture_output=True, text=True).stdout.split()]
        assert len(workers) == 2, workers
        os.kill(max(workers), signal.SIGSTOP)          # one rank freezes (the other keeps waiting for it)
        t0 = time.monotonic()
        out, _ = proc.communicate(timeout=120)
        assert time.monotonic() - t0 < 100
        assert proc.returncode != 0 and "did not answer within trainer.ddp_timeout=4" in out, out[-3000:]
    finally:
        for pid in [*workers, proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
