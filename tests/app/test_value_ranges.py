"""Keys the fault probe found without range checks, and clips that used to end in tracebacks or in an
error about a key nobody set: each is now one ConfigError / DataError naming the key or the clip."""

import numpy as np
import pytest

from seqgen.core.errors import ConfigError, DataError
from seqgen.core.schema import build
from tests.conftest import compose


@pytest.mark.parametrize("override, message", [
    ("optim.min_lr=0.05", r"optim\.min_lr=0\.05 is above optim\.lr=0\.001"),
    ("optim.betas=[0.9,1.5]", r"optim\.betas=\[0\.9, 1\.5\]: expected two numbers in \[0, 1\)"),
    ("optim.betas=[0.9]", r"optim\.betas=\[0\.9\]: expected two numbers"),
    ("optim.betas=0.9", r"optim\.betas=0\.9: expected list"),
    ("data.n_frames=1", r"data\.n_frames=1, data\.frame_size=64: a generated clip needs at least 2 frames"),
])
def test_train_keys_out_of_range(tmp_path, override, message):
    from seqgen.app.train import resolve, train

    if override.startswith("data."):
        with pytest.raises(ConfigError, match=message):
            train(compose(["model=video_texture", "data=pendulum", override, f"out_root={tmp_path}"]))
    else:
        with pytest.raises(ConfigError, match=message):
            resolve(compose([override]))


def test_a_list_given_as_a_string_says_list():
    from seqgen.families.video_texture.generate import SampleArgs

    with pytest.raises(ConfigError, match=r"sample\.target='1,2': expected list or null \(e\.g\. target=\[1,2\]\)"):
        build(SampleArgs, {"target": "1,2"}, "sample")


@pytest.mark.parametrize("key, value", [("fps", 0), ("crossfade", -1), ("radius", 0), ("target_penalty", -1),
                                        ("strip_frames", 0), ("frames", 0), ("loop_length", 1), ("start", -3)])
def test_video_sample_keys(key, value):
    from seqgen.families.video_texture.generate import SampleArgs

    with pytest.raises(ConfigError, match=rf"sample\.{key}={value}(\.0)?: expected a value"):
        build(SampleArgs, {key: value}, "sample")


@pytest.mark.parametrize("key, value", [("frames", 0), ("radius", -1), ("target_penalty", 0)])
def test_video_evaluate_keys(key, value):
    from seqgen.families.video_texture.evaluate import EvalArgs

    with pytest.raises(ConfigError, match=rf"evaluate\.{key}={value}(\.0)?: expected a value"):
        build(EvalArgs, {key: value}, "evaluate")


@pytest.mark.parametrize("waypoints, message", [
    ([[1, 2, 3]], "expected a list of \\[x, y\\] points"), ("abc", "expected a list"), ([], "expected a list"),
    ([[10, 10], [500, 10]], r"\[\[500\.0, 10\.0\]\] lie off the 64x48 canvas")])
def test_waypoints_are_checked_against_the_canvas(waypoints, message):
    from seqgen.families.video_texture.control import check_waypoints

    with pytest.raises(ConfigError, match=message):
        check_waypoints(waypoints, 64, 48)
    assert check_waypoints([[0, 0], [64, 48]], 64, 48).shape == (2, 2)


def test_synthesize_size_and_guidance():
    from seqgen.families.text2pixel.generate import run_guidance
    from seqgen.texture.efros_leung import EfrosLeungConfig, TextureError, synthesize

    with pytest.raises(TextureError, match="size=2: the output must be at least the 3-pixel seed patch"):
        synthesize(np.random.default_rng(0).random((16, 16, 3)), 2, EfrosLeungConfig(window=5))
    with pytest.raises(ConfigError, match="guidance=-1: expected a scale >= 0"):
        run_guidance(-1, {})
    assert run_guidance(0.0, {}) == 0.0 and run_guidance("run", {}) == 3.0


def _frames_folder(path, frames):
    from PIL import Image

    path.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(path / f"{i:03d}.png")
    return path


def test_a_still_video_and_a_six_frame_clip(tmp_path, capsys):
    from seqgen.app.train import train

    still = _frames_folder(tmp_path / "still", [np.full((16, 16, 3), 100, np.uint8)] * 10)
    over = ["model=video_texture", "data=video_folder", f"out_root={tmp_path}", "video_texture.eval_frames=50",
            "video_texture.sample_frames=5", "video_texture.figure=false"]
    with pytest.raises(DataError, match=r"clip 'still': its 10 frames are all the same picture \(a still video\)"):
        train(compose([*over, f"data.path={still}", "run_name=still"]))
    rng = np.random.default_rng(0)
    six = _frames_folder(tmp_path / "six", [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(6)])
    result = train(compose([*over, f"data.path={six}", "run_name=six"]))
    assert "too short for a video loop" in capsys.readouterr().out and not result["model"].loop
    from seqgen.families.video_texture.generate import SampleArgs, play

    with pytest.raises(ConfigError, match="no video loop \\(its 6-frame clip was too short for one\\)"):
        play(result["model"], SampleArgs(loop=True), 0)


def test_a_clip_too_long_to_analyse_is_refused(tmp_path):
    from seqgen.app.train import train

    with pytest.raises(DataError, match=r"clip 'pendulum' has 300 frames, above model\.max_frames=100.*GiB"):
        train(compose(["model=video_texture", "data=pendulum", "model.max_frames=100", f"out_root={tmp_path}"]))


def test_evaluate_figure_into_a_folder_is_written_where_reported(tmp_path):
    from seqgen.app.evaluate import evaluate
    from seqgen.app.train import train

    last = train(compose(["model=video_texture", "data=pendulum", "data.n_frames=60", f"out_root={tmp_path}",
                          "run_name=vt", "video_texture.eval_frames=0", "video_texture.sample_frames=0",
                          "video_texture.figure=false"]))["checkpoint"]
    folder = tmp_path / "figs"
    out = evaluate({"ckpt": str(last), "frames": 50, "ablations": False, "figure": f"{folder}/"})
    assert out["figure"] == str(folder / "matrix.png") and (folder / "matrix.png").is_file()
    with pytest.raises(ConfigError, match="figure=.*x.txt: the figure is a PNG"):
        evaluate({"ckpt": str(last), "frames": 50, "ablations": False, "figure": str(tmp_path / "x.txt")})


def test_the_space_check_asks_for_what_a_checkpoint_really_needs(tmp_path, corpus, monkeypatch):
    """Free space for one real checkpoint (less than the old 3 x weights + 1 MiB) is enough, for a new run
    and for a resume; the up-front figure is within 25% above the checkpoint written."""
    import shutil

    import torch

    from seqgen.app.train import train
    from seqgen.core import checkpoint as ckpt
    from seqgen.core.training import checkpoint_bytes
    from tests.conftest import tiny_overrides

    asked = []
    real_check = ckpt.check_writable

    def spy(folder, need_bytes=0, what="checkpoints"):
        asked.append(need_bytes)
        return real_check(folder, need_bytes, what)

    monkeypatch.setattr(ckpt, "check_writable", spy)
    result = train(compose(tiny_overrides(tmp_path, corpus, "trainer.max_steps=2")))
    written = result["checkpoint"].resolve().stat().st_size
    assert written <= asked[0] <= 1.25 * written + 2**16, (asked[0], written)
    weights = sum(p.numel() * p.element_size() for p in result["model"].parameters())
    assert asked[0] < 3 * weights + 2**20          # the old figure refused runs that fit
    state = torch.load(result["checkpoint"], weights_only=True)
    assert checkpoint_bytes(result["model"], None, state) == int(ckpt.nbytes(state) * 1.1) + 2**16
    usage = shutil.disk_usage(tmp_path)            # exactly the asked room: a resume goes on
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=asked[0] + 2**17))
    again = train(compose(tiny_overrides(tmp_path, corpus, "trainer.max_steps=4")))
    assert again["step"] == 4


# ---- 12. the smaller items -----------------------------------------------------------------------------------

def test_b_random_needs_filter_labels():
    from seqgen.texture.analogy_run import inputs
    from seqgen.texture.run import SynthConfig

    with pytest.raises(ConfigError, match="b=random draws a label map, which only filter=labels can paint"):
        inputs(build(SynthConfig, {"mode": "analogy", "a": "skimage:brick", "filter": "blur", "b": "random"},
                     "synthesize"))


def test_a_refused_init_embeddings_writes_no_run_file(tmp_path, corpus):
    from seqgen.app.train import train
    from tests.conftest import tiny_overrides

    with pytest.raises(Exception, match="init_embeddings"):
        train(compose(tiny_overrides(tmp_path, corpus, "data.tokenizer=char",
                                     f"+init_embeddings={tmp_path / 'missing.pt'}")))
    run = tmp_path / "out" / "t"
    assert not (run / "config.yaml").exists() and not (run / "tokenizer.json").exists()


def test_a_refit_replaces_its_metrics_rows(tmp_path, corpus):
    import json

    from seqgen.app.train import train

    over = ["model=ngram", "data=text_files", f"data.train={corpus['train']}", f"data.valid={corpus['valid']}",
            f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", "run_name=n"]
    train(compose(over))
    rows = (tmp_path / "out" / "n" / "metrics.jsonl").read_text().splitlines()
    train(compose(over))
    again = (tmp_path / "out" / "n" / "metrics.jsonl").read_text().splitlines()
    assert len(again) == len(rows) and all(json.loads(r)["step"] == 0 for r in again)


def test_sample_prompts_zero_skips_the_grid():
    from seqgen.families.visual_prompt.settings import Settings

    assert build(Settings, {"sample_prompts": 0}, "visual_prompt").sample_prompts == 0


def test_an_orphaned_ddp_rank_says_so_in_one_line(monkeypatch):
    from seqgen.app import train as train_mod
    from seqgen.core import distributed as D
    from seqgen.core.errors import SeqgenError

    monkeypatch.setattr(D, "setup", lambda *a: D.DistInfo(rank=1, world_size=2))
    monkeypatch.setattr(D, "cleanup", lambda: None)

    def gloo_fails(*a):
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer "
                           "[127.0.0.1]:29500")

    monkeypatch.setattr(train_mod, "_locked", gloo_fails)
    with pytest.raises(SeqgenError, match="rank 1: another process of this job ended .*rerun to resume"):
        train_mod.train(compose(["trainer.device=cpu"]))
