"""SIGTERM / Ctrl-C in the fitted families (word2vec, ngram, video_texture): the epoch or stage running
ends, a checkpoint is saved, the run exits with 143 / 130 and the same command resumes (word2vec from
the next epoch, exactly; the others refit, counting and analysis being deterministic)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqgen.core.errors import Stopped
from tests.conftest import ROOT, compose
from tests.families.test_word2vec import planted_corpus


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_a_word2vec_fit_resumed_after_an_epoch_equals_the_uninterrupted_one(backend):
    from seqgen.families.word2vec.model import Word2Vec

    torch.set_num_threads(1)
    cfg = dict(min_count=1, vector_size=8, window=2, epochs=3, sample=0, workers=1, batch_pairs=128, backend=backend)
    whole = Word2Vec(Word2Vec.Config(**cfg)).fit(planted_corpus())
    part, saved = Word2Vec(Word2Vec.Config(**cfg)), {}

    def stop_after_one(done, g):
        saved.update(part.state(), epoch=done, rng=g.get_state(), history=list(part.history))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        part.fit(planted_corpus(), on_epoch=stop_after_one)
    assert saved["epoch"] == 1
    resumed = Word2Vec(Word2Vec.Config(**cfg)).fit(planted_corpus(), resume=saved)
    assert torch.equal(resumed.vectors, whole.vectors) and len(resumed.history) == 3


def _run_until(args: list[str], marker: str, signum: int, env=None) -> subprocess.CompletedProcess:
    """Start scripts/train.py, send `signum` once `marker` is printed, wait for the exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen([sys.executable, "scripts/train.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            proc.send_signal(signum)
            break
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + out, err)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143),
                                          pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)])
def test_word2vec_saves_its_epochs_on_a_signal_and_the_same_command_resumes(tmp_path, signum, code):
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(" ".join(ln) for ln in planted_corpus() * 8))
    over = [f"data.train={corpus}", f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", "run_name=w",
            "model=word2vec", "data=text_files", "data.tokenizer=word", "model.min_count=1", "model.vector_size=16",
            "model.epochs=20", "model.eval_sets=false", "model.sample=0", "model.workers=1"]
    res = _run_until(over, "epoch 1: loss", signum)
    assert res.returncode == code, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and f"stopped by {signal.Signals(signum).name} after word2vec epoch" \
        in res.stderr, res.stderr[-2000:]
    state = torch.load(tmp_path / "out" / "w" / "checkpoints" / "last.pt", weights_only=True)
    done = state["fit_progress"]["epoch"]
    assert 1 <= done < 20 and state["model"]["vectors"].shape[1] == 16
    again = subprocess.run([sys.executable, "scripts/train.py", *over], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming after epoch {done} of 20" in again.stdout
    assert f"epoch {done}: loss" not in again.stdout and "epoch 20: loss" in again.stdout
    final = torch.load(tmp_path / "out" / "w" / "checkpoints" / "last.pt", weights_only=True)
    assert "fit_progress" not in final


def _self_signal_during(monkeypatch, target, name: str):
    """Wrap target.name so that the process sends itself SIGTERM while that stage runs."""
    original = getattr(target, name)

    def wrapped(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)   # the handler runs in the main thread between bytecodes
        return original(*a, **k)

    monkeypatch.setattr(target, name, wrapped)


def test_ngram_saves_the_counted_model_on_sigterm(tmp_path, corpus, monkeypatch):
    from seqgen.app.train import train
    from seqgen.families.ngram import model as ngram_model

    _self_signal_during(monkeypatch, ngram_model.NGram, "fit")
    over = ["model=ngram", "data=text_files", f"data.train={corpus['train']}", f"data.valid={corpus['valid']}",
            f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", "run_name=n"]
    with pytest.raises(Stopped, match="SIGTERM before the valid perplexity") as e:
        train(compose(over))
    assert e.value.exit_code == 143
    state = torch.load(tmp_path / "out" / "n" / "checkpoints" / "last.pt", weights_only=True)
    assert state["model_name"] == "ngram" and "val/ppl" not in state["metrics"]
    monkeypatch.undo()
    assert "val/ppl" in train(compose(over))["metrics"]          # the same command refits and evaluates


def _stopped_video_texture(tmp_path, match: str, eval_frames: int, sample_frames: int) -> dict:
    """A pendulum video texture whose SIGTERM (set up by the caller) stops it with exit 143: its saved state."""
    from seqgen.app.train import train

    over = ["model=video_texture", "data=pendulum", "data.n_frames=60", f"out_root={tmp_path}", "run_name=vt",
            f"video_texture.eval_frames={eval_frames}", f"video_texture.sample_frames={sample_frames}"]
    with pytest.raises(Stopped, match=match) as e:
        train(compose(over))
    assert e.value.exit_code == 143
    state = torch.load(tmp_path / "vt" / "checkpoints" / "last.pt", weights_only=True)
    assert state["model_name"] == "video_texture"
    return state


def test_video_texture_saves_the_analysis_on_sigterm(tmp_path, monkeypatch):
    from seqgen.families.video_texture import model as vt_model

    _self_signal_during(monkeypatch, vt_model.VideoTexture, "fit")
    _stopped_video_texture(tmp_path, "SIGTERM after the analysis", 500, 10)
    assert not (tmp_path / "vt" / "samples" / "texture.gif").exists()


def test_video_texture_stopped_in_its_last_stage_says_so(tmp_path, monkeypatch):
    """Probe round 3: SIGTERM while the transition-matrix figure was written printed "saving" and exited
    0; now the complete run is saved and the exit is 143, as for the other stages."""
    from seqgen.families.video_texture import fit as vt_fit

    _self_signal_during(monkeypatch, vt_fit, "write_matrix_figure")
    _stopped_video_texture(tmp_path, "SIGTERM during the last stage", 0, 0)
