"""The demo (seqgen.app.demo): every tab's function through gradio_client against the app launched in
this process on a free local port, with tiny models trained here; failures reach the client as one
clear message. The real-browser test is tests/app/test_demo_browser.py."""

import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_TEXT, compose

gr = pytest.importorskip("gradio", reason="the demo needs gradio: pip install -e '.[demo]'")
gradio_client = pytest.importorskip("gradio_client", reason="the API tests need gradio_client (dev extra)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_tiny(out: Path, data: Path, corpus: Path, words: Path) -> None:
    """One tiny checkpoint per family that the demo loads, trained through seqgen.train."""
    from seqgen import train

    common = [f"out_root={out}", f"data_root={data}", "trainer=smoke", "trainer.batch_size=2"]
    small = ["model.n_layer=1", "model.n_embd=32", "model.n_head=2"]
    runs = [
        ["model=gpt_tiny", "data=text_files", f"data.train={corpus}", "run_name=gpt", "trainer.max_steps=4"],
        ["model=word2vec", "data=text_files", "data.tokenizer=word", f"data.train={words}", "model.min_count=1",
         "model.vector_size=16", "model.epochs=2", "model.eval_sets=false", "model.sample=0", "run_name=w2v"],
        ["experiment=text2pixel_shapes", "run_name=t2p", "trainer.max_steps=2", "trainer.eval_every=2",
         "trainer.ckpt_every=2", "trainer.sample_every=2", "data.n_train=20", "data.n_valid=4", "data.n_test=4",
         "text2pixel.eval_images=2", "text2pixel.fidelity_images=0", "text2pixel.sample_images=1", *small],
        ["experiment=upsampler_shapes", "run_name=up", "trainer.max_steps=2", "trainer.eval_every=2",
         "trainer.ckpt_every=2", "trainer.sample_every=2", "data.n_train=20", "data.n_valid=4", "data.n_test=4",
         "upsampler.eval_images=2", "upsampler.blocks_per_image=8", "upsampler.sample_images=1", *small],
        ["experiment=visual_prompt_shapes", "run_name=vp", "trainer.max_steps=2", "trainer.eval_every=2",
         "trainer.ckpt_every=2", "trainer.sample_every=2", "data.n_valid=4", "data.n_test=2",
         "visual_prompt.eval_sentences=4", "visual_prompt.score_sentences=1", *small],
    ]
    for over in runs:
        train(compose(common + over))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(gradio_client.Client, outputs folder, a text file) for the demo served on 127.0.0.1."""
    from seqgen.app.demo import DemoContext, Limits, launch

    root = tmp_path_factory.mktemp("demo")
    corpus = root / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    words = root / "words.txt"
    rng = np.random.default_rng(0)
    topics = [[f"fruit{i}" for i in range(10)], [f"tool{i}" for i in range(10)]]
    words.write_text("\n".join(" ".join(rng.choice(topics[i % 2], 12)) for i in range(600)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train_tiny(root / "outputs", root / "data", corpus, words)
    ctx = DemoContext(outputs=root / "outputs", data_root=root / "data",
                      limits=Limits(max_bytes=2 ** 20, max_pixels=300 * 300, max_frames=50))
    app, url = launch(ctx, port=free_port(), prevent_thread_lock=True)
    client = gradio_client.Client(url, verbose=False)
    yield client, root / "outputs", corpus
    app.close()
    torch.set_num_threads(threads)


def image(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def call_fails(client, *args, api_name: str) -> str:
    """The message the client gets for a failing call (one line, no traceback)."""
    with pytest.raises(Exception) as e:
        client.predict(*args, api_name=api_name)
    msg = str(e.value)
    assert "Traceback" not in msg and 'File "' not in msg
    return msg


def test_only_local_interface_and_every_tab_has_an_api(demo):
    client, _, _ = demo
    assert client.src.startswith("http://127.0.0.1:")
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for name in ("/markov", "/shannon", "/neighbours", "/word_analogy", "/gpt", "/text2pixel", "/efros_leung",
                 "/fill_holes", "/video_texture", "/image_analogy", "/visual_prompt"):
        assert name in names, sorted(names)


def test_markov(demo):
    client = demo[0]
    table = {"headers": ["today \\ tomorrow", "sunny", "cloudy", "rainy"],
             "data": [["sunny", 0.7, 0.2, 0.1], ["cloudy", 0.3, 0.4, 0.3], ["rainy", 0.2, 0.4, 0.4]]}
    week, stats = client.predict(table, "sunny", 3, api_name="/markov")
    assert week.count("|") > 14 and "sunny" in week
    # pi of this chain: (6, 4, 3) / 13, as pi P = pi checks by hand
    assert "**0.462**" in stats and "**0.308**" in stats and "**0.231**" in stats
    table["data"][0][1] = 0.9
    assert "sunny sums to 1.200" in call_fails(client, table, "sunny", 3, api_name="/markov")


def test_shannon_fits_once_and_samples_seeded(demo):
    client, _, corpus = demo
    f = gradio_client.handle_file(str(corpus))
    text, status = client.predict("uploaded text", f, "chars", "3", "", 200, 7, 1.0, api_name="/shannon")
    assert "fitted in" in status and len(text) > 100
    again, status2 = client.predict("uploaded text", f, "chars", "3", "", 200, 7, 1.0, api_name="/shannon")
    assert again == text and "cached fit" in status2
    other, _ = client.predict("uploaded text", f, "chars", "3", "", 200, 8, 1.0, api_name="/shannon")
    assert other != text
    words, _ = client.predict("uploaded text", f, "words", "2", "All:", 30, 0, 1.0, api_name="/shannon")
    assert words.startswith("All:") and set(re.findall(r"\w+", words)) <= set(re.findall(r"\w+", TINY_TEXT))
    inf, status = client.predict("uploaded text", f, "words", "∞", "All:", 30, 0, 1.0, api_name="/shannon")
    assert inf.startswith("All:") and set(re.findall(r"\w+", inf)) <= set(re.findall(r"\w+", TINY_TEXT)), status
    assert "upload a UTF-8" in call_fails(client, "uploaded text", None, "chars", "3", "", 10, 0, 1.0,
                                          api_name="/shannon")
    assert "9 is not in the list" in call_fails(client, "uploaded text", f, "chars", "9", "", 10, 0, 1.0,
                                                api_name="/shannon")


def test_word2vec_neighbours_and_analogy(demo):
    client, out, _ = demo
    ckpt = str(out / "w2v" / "checkpoints" / "last.pt")
    rows = client.predict(ckpt, "fruit1", 5, api_name="/neighbours")
    words = [r[0] for r in rows["data"]]
    assert len(words) == 5 and "fruit1" not in words
    rows = client.predict(ckpt, "fruit1", "fruit2", "tool3", 3, api_name="/word_analogy")
    assert len(rows["data"]) == 3
    assert "not in the vocabulary" in call_fails(client, ckpt, "banana", 5, api_name="/neighbours")
    gpt = str(out / "gpt" / "checkpoints" / "last.pt")
    assert "holds a 'gpt' model" in call_fails(client, gpt, "fruit1", 5, api_name="/neighbours")


def test_gpt_streams_tokens(demo):
    client, out, _ = demo
    ckpt = str(out / "gpt" / "checkpoints" / "last.pt")
    job = client.submit(ckpt, "All:", 40, 0.8, 200, 1.0, 5, api_name="/gpt")
    final = job.result()
    updates = job.outputs()
    assert len(updates) >= 40                           # one update per drawn token (and the last line)
    assert final[0].startswith("All:") and "40 tokens in" in final[1]
    assert [u[0] for u in updates[:3]] == sorted([u[0] for u in updates[:3]], key=len)
    from seqgen import load_model
    from seqgen.families.gpt.generate import sample_text

    model, tok, _ = load_model(ckpt)
    assert final[0] == sample_text(model, tok, "All:", 40, 5, "cpu", 0.8, 200, None)   # the sampler's tokens
    # a letter the character vocabulary lacks is folded to its base letter, as sample.py does, and said
    text, status = client.predict(ckpt, "Allë:", 5, 0.8, 0, 1.0, 5, api_name="/gpt")
    assert text.startswith("Alle:") and "ë -> e" in status
    assert "nowhere.pt" in call_fails(client, "nowhere.pt", "x", 5, 0.8, 0, 1.0, 0, api_name="/gpt")
    assert "experiment=gpt_shakespeare_char_cpu" in call_fails(client, None, "x", 5, 0.8, 0, 1.0, 0, api_name="/gpt")


def test_text2pixel_and_upsampler(demo):
    client, out, _ = demo
    t2p, up = str(out / "t2p" / "checkpoints" / "last.pt"), str(out / "up" / "checkpoints" / "last.pt")
    lo, digits, hi, status = client.predict(t2p, up, "a large red star on a white background", 2.0, 0, 1.0,
                                            api_name="/text2pixel")
    assert image(lo).shape == (128, 128, 3) and image(hi).shape == (128, 128, 3)
    assert len(digits.splitlines()) == 32 and "upsampled 4x" in status
    lo2, _, hi2, status = client.predict(t2p, None, "a small blue ring", 0, 1, 1.0, api_name="/text2pixel")
    assert hi2 is None and "no upsampler chosen" in status
    assert "caption is empty" in call_fails(client, t2p, up, "  ", 2.0, 0, 1.0, api_name="/text2pixel")
    assert "experiment=text2pixel_shapes" in call_fails(client, None, None, "a ring", 2.0, 0, 1.0,
                                                        api_name="/text2pixel")


def test_efros_leung_grow_and_fill(demo, tmp_path):
    from PIL import Image

    client = demo[0]
    sample, out, status = client.predict("brick", None, 16, 5, 32, 0, api_name="/efros_leung")
    assert image(sample).shape == (16, 16, 3) and image(out).shape == (32, 32, 3) and "window 5" in status
    pic = tmp_path / "pic.png"
    rgb = (np.indices((24, 24)).sum(0) % 2 * 255).astype(np.uint8)
    Image.fromarray(np.stack([rgb] * 3, -1)).save(pic)
    layer = np.zeros((24, 24, 4), np.uint8)
    layer[8:14, 8:14] = (255, 0, 255, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {"background": gradio_client.handle_file(str(pic)), "layers": [gradio_client.handle_file(
        str(tmp_path / "layer.png"))], "composite": gradio_client.handle_file(str(pic))}
    holes, filled, status = client.predict(editor, 5, 0, api_name="/fill_holes")
    assert "36 pixels filled" in status
    assert (image(filled)[..., 0] == np.stack([rgb])[0]).all()      # a checkerboard's holes are filled exactly
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((400, 400, 3), np.uint8)).save(big)
    msg = call_fails(client, "brick", gradio_client.handle_file(str(big)), 16, 5, 32, 0, api_name="/efros_leung")
    assert "90,000 pixels" in msg


def test_video_texture(demo, tmp_path):
    from PIL import Image

    client = demo[0]
    gif, matrices, status = client.predict("pendulum", None, 0.05, 100, 200, 60, 0, api_name="/video_texture")
    with Image.open(gif) as im:
        assert im.n_frames == 60 and im.info.get("loop") == 0
    assert image(matrices).shape[1] > image(matrices).shape[0]      # D and three P panels side by side
    assert "300 frames" in status and "frames 100-200" in status
    frames = [Image.fromarray(np.full((16, 16, 3), 4 * i, np.uint8)) for i in range(60)]
    clip = tmp_path / "clip.gif"
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=40, loop=0)
    msg = call_fails(client, "uploaded clip", gradio_client.handle_file(str(clip)), 0.05, 0, 0, 30, 0,
                     api_name="/video_texture")
    assert "more than 50 frames" in msg
    short = tmp_path / "short.gif"
    frames[0].save(short, save_all=True, append_images=frames[1:30], duration=40, loop=0)
    gif, _, status = client.predict("uploaded clip", gradio_client.handle_file(str(short)), 0.05, 0, 0, 30, 0,
                                    api_name="/video_texture")
    assert "short: 30 frames" in status


def test_image_analogy(demo, tmp_path):
    from PIL import Image

    from seqgen.texture.filters import blur
    from seqgen.texture.procedural import scene

    client = demo[0]
    a = scene(32, 0)
    for name, img in (("a", a), ("ap", blur(a)), ("b", scene(32, 1))):
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    files = [gradio_client.handle_file(str(tmp_path / f"{n}.png")) for n in ("a", "b", "ap")]
    *_, bp, status = client.predict("uploads", "blur", "coffee", files[0], "coffee", files[1], files[2], 32, 0,
                                    api_name="/image_analogy")
    assert image(bp).shape == (32, 32, 3) and "B′ 32x32" in status
    a, ap, b, bp, status = client.predict("procedural filter", "blur", "procedural scene", None,
                                          "procedural scene", None, None, 32, 0, api_name="/image_analogy")
    assert image(bp).shape == (32, 32, 3) and "PSNR" in status
    assert "upload A′" in call_fails(client, "uploads", "blur", "coffee", None, "coffee", None, None, 32, 0,
                                     api_name="/image_analogy")


def test_visual_prompt(demo):
    client, out, _ = demo
    empty = {"background": None, "layers": [], "composite": None}
    pic, status = client.predict("image-analogy baseline (no model)", "recolour", 0, 2, empty,
                                 api_name="/visual_prompt")
    assert image(pic).shape[1] > 6 * image(pic).shape[0] // 2 and "image-analogy baseline" in status
    ckpt = str(out / "vp" / "checkpoints" / "last.pt")
    pic, status = client.predict(ckpt, "mirror", 1, 1, empty, api_name="/visual_prompt")
    assert "answered by the model" in status
    assert "at least one example" in call_fails(client, "image-analogy baseline (no model)", "recolour", 0, 0, empty,
                                                api_name="/visual_prompt")


def test_visual_prompt_drawn_query(demo, tmp_path):
    from PIL import Image

    client, out, _ = demo
    drawing = np.zeros((64, 64, 4), np.uint8)
    drawing[16:48, 16:48] = (230, 25, 75, 255)            # a red square drawn on the transparent canvas
    Image.fromarray(drawing).save(tmp_path / "q.png")
    sketch = {"background": None, "layers": [], "composite": gradio_client.handle_file(str(tmp_path / "q.png"))}
    pic, status = client.predict(str(out / "vp" / "checkpoints" / "last.pt"), "recolour", 0, 2, sketch,
                                 api_name="/visual_prompt")
    assert "(your query)" in status
    h, w = image(pic).shape[:2]
    assert w > 5 * h   # 2 pairs, the query and the answer in a row: no truth for a drawn query


def test_an_unexpected_failure_is_one_line():
    """A bug (not an input error) reaches the page as its type and first line, not a traceback."""
    from seqgen.app.demo.common import guarded

    def broken():
        raise KeyError("boom")

    with pytest.raises(gr.Error) as e:
        guarded(broken)()
    assert "KeyError" in e.value.message and "please report it" in e.value.message


def test_progress_and_byte_limit(tmp_path):
    """Efros-Leung reports its growing fraction to the page's progress bar; a file over the byte limit
    is refused with the limit named."""
    from seqgen.app.demo import DemoContext, Limits
    from seqgen.app.demo.common import upload_path
    from seqgen.app.demo.texture import grow
    from seqgen.core.errors import DataError

    seen = []
    grow(DemoContext(), "brick", None, 16, 5, 32, 0, progress=lambda f, desc="": seen.append(f))
    assert len(seen) > 3 and seen == sorted(seen) and seen[0] < 0.2 < seen[-1] <= 1.0
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 3000)
    with pytest.raises(DataError, match=r"big.txt is 2.9 KiB; the demo takes files up to 2.0 KiB"):
        upload_path(str(big), "uploaded text", Limits(max_bytes=2000))



def test_seqgen_and_the_demo_package_import_without_gradio():
    """gradio is imported only when the app is built: seqgen (and the tabs' compute functions) work without it."""
    import subprocess
    import sys

    code = ("import sys, seqgen, seqgen.app.demo, seqgen.app.demo.shannon, seqgen.app.demo.texture; "
            "assert 'gradio' not in sys.modules, 'gradio imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_answers_share_one_pruned_folder(monkeypatch):
    """Each answer's files go to a fresh folder inside one per-process folder; only the last
    KEEP_OUTPUTS answers' folders stay (a long-running demo does not fill /tmp)."""
    from seqgen.app.demo import common

    monkeypatch.setattr(common, "_OUTPUTS", {})
    monkeypatch.setattr(common, "KEEP_OUTPUTS", 3)
    folders = [common.fresh_output_folder() for _ in range(5)]
    root = folders[0].parent
    assert all(f.parent == root for f in folders) and len(set(folders)) == 5
    assert sorted(p.name for p in root.iterdir()) == [f.name for f in folders[-3:]]
    shutil.rmtree(root)
