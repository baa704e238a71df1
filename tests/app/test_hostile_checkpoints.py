"""Checkpoints and model files from elsewhere: a checkpoint may not choose which local file evaluate.py
reads; ARPA files round-trip (whitespace tokens escaped), load in KenLM, import as evaluable
checkpoints, and a malformed one names its file and line."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.app.evaluate import evaluate
from seqgen.core.errors import ConfigError, DataError
from seqgen.families.ngram.io import escape_word, read_arpa, unescape_word, write_arpa
from tests.conftest import compose, run_script


def _ngram(tmp_path, corpus, tokenizer: str, *extra):
    from seqgen.app.train import train

    over = ["model=ngram", "model.order=3", "data=text_files", f"data.train={corpus['train']}",
            f"data.valid={corpus['valid']}", f"data.test={corpus['test']}", f"data.tokenizer={tokenizer}",
            f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", f"run_name={tokenizer}", *extra]
    return train(compose(over))["checkpoint"]


# ---- 4. a checkpoint chooses which local file evaluate.py reads ----------------------------------------------

def test_a_checkpoint_may_not_choose_an_outside_file(tmp_path, corpus):
    last = _ngram(tmp_path, corpus, "char")
    # its own data lies outside the working folder (tmp), but the checkpoint recorded that content
    ok = evaluate({"ckpt": str(last), "data_root": str(tmp_path / "data")})
    assert ok["split"] == "test" and ok["bpc"] > 0
    secret = tmp_path / "secret.txt"
    secret.write_text("All:\nSpeak, speak.\n" * 20)   # a private file (in letters the model knows)
    state = torch.load(last, weights_only=True)
    state["config"]["data"]["test"] = str(secret)
    hostile = tmp_path / "hostile.pt"
    torch.save(state, hostile)
    fresh_root = tmp_path / "fresh"
    with pytest.raises(ConfigError, match=r"reads data\.test outside the working folder .* does not record their "
                                          r"content.* repeat them: data\.test=.*secret\.txt"):
        evaluate({"ckpt": str(hostile), "data_root": str(fresh_root)})
    assert not fresh_root.exists()                        # nothing read, nothing tokenized
    res = run_script(["scripts/evaluate.py", f"ckpt={hostile}", f"data_root={fresh_root}"], check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "outside the working folder" in res.stderr
    # given again on the command line, it is the user's choice
    again = evaluate({"ckpt": str(hostile), "data_root": str(fresh_root), "data": {"test": str(secret)}})
    assert again["split"] == "test"
    # export.py's model card evaluates too: the same refusal, said on the card, nothing read
    from seqgen.app.export import export

    card = export({"ckpt": str(hostile), "format": "pretrained", "out": str(tmp_path / "exported"),
                   "data_root": str(tmp_path / "fresh2")}) / "README.md"
    assert "outside the working folder" in card.read_text() and not (tmp_path / "fresh2").exists()


def test_out_files_are_checked_before_any_work(tmp_path, corpus, monkeypatch):
    """evaluate.py / export.py out=: a folder, a read-only disk, a symlink loop are one ConfigError each."""
    import os

    from seqgen.app.export import export

    last = _ngram(tmp_path, corpus, "char")
    for fn, values in ((evaluate, {"ckpt": str(last)}), (export, {"ckpt": str(last), "format": "arpa"})):
        with pytest.raises(ConfigError, match="out=.* is a folder"):
            fn({**values, "out": str(tmp_path)})
        loop = tmp_path / "loop"
        loop.symlink_to(loop)
        with pytest.raises(ConfigError, match=r"out=.*loop/x\.json: cannot create the folder"):
            fn({**values, "out": str(loop / "x.json")})
        loop.unlink()
        real_access = os.access          # a read-only disk, also when the tests run as root
        monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
        with pytest.raises(ConfigError, match=r"out=.*not writable \(a read-only disk"):
            fn({**values, "out": str(tmp_path / "x.json")})
        monkeypatch.undo()
    out = export({"ckpt": str(last), "format": "arpa", "out": str(tmp_path / "new" / "folder" / "m.arpa")})
    assert Path(out).is_file()                      # a missing folder is made


def test_a_read_only_run_folder_is_one_line(tmp_path, corpus, monkeypatch):
    from seqgen.app.train import train

    real_open = __import__("os").open

    def read_only(path, flags, *a):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a)

    monkeypatch.setattr("os.open", read_only)
    with pytest.raises(ConfigError, match=r"cannot write into the run folder .*Permission denied"):
        _ngram(tmp_path, corpus, "char")
    (tmp_path / "file").write_text("x")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"cannot create the run folder"):
        train(compose(["model=ngram", "data=text_files", f"data.train={corpus['train']}",
                       f"out_root={tmp_path / 'file'}", "run_name=r"]))


# ---- ARPA: whitespace tokens escaped, round trip, KenLM, evaluable imports ----------------------------------

def test_escapes_are_reversible():
    for w in [" ", "\n", "\t", "a b", "<0x20>", "<0x>", "", "<s>", "</s>", "<unk>", "x<0y", "\u3000", "<<0x41>"]:
        e = escape_word(w)
        assert not any(c.isspace() for c in e) and e and unescape_word(e) == w, (w, e)


@pytest.mark.parametrize("tokenizer, extra", [("char", ()), ("word", ("data.word_split=words",))])
def test_arpa_export_round_trips_and_the_import_is_evaluable(tmp_path, corpus, tokenizer, extra):
    last = _ngram(tmp_path, corpus, tokenizer, *extra)
    arpa, back = tmp_path / "m.arpa", tmp_path / "back.pt"
    run_script(["scripts/export.py", f"ckpt={last}", "format=arpa", f"out={arpa}"])
    text = arpa.read_text(encoding="utf-8")
    assert "<0x0A>" in text and ("<0x20>" in text) == (tokenizer == "char")
    run_script(["scripts/export.py", f"arpa={arpa}", "format=checkpoint", f"out={back}"])
    from seqgen.app.load import load_model

    model, tok, _ = load_model(last)
    again = read_arpa(arpa, vocab_order=model.vocab)
    for n in range(model.config.order):
        assert np.array_equal(again.keys[n], model.keys[n]) and np.array_equal(again.logp[n], model.logp[n])
    kenlm = pytest.importorskip("kenlm")
    assert kenlm.Model(str(arpa)).order == 3
    # the imported checkpoint scores the same text to the same bits per character
    want = evaluate({"ckpt": str(last), "data_root": str(tmp_path / "data")})
    got = evaluate({"ckpt": str(back), "data": {"test": corpus["test"]}})
    assert got["bpc"] == pytest.approx(want["bpc"], rel=1e-5) and got["split"] == "test"
    res = run_script(["scripts/evaluate.py", f"ckpt={back}"], check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "data.test=FILE" in res.stderr


def _good_arpa(tmp_path) -> Path:
    from tests.families.test_ngram import fit

    model, _ = fit(order=2, smoothing="wb")
    write_arpa(model, tmp_path / "good.arpa")
    return tmp_path / "good.arpa"


def _edit(path: Path, old: str, new: str, name: str) -> Path:
    text = path.read_text()
    assert old in text
    out = path.with_name(name)
    out.write_text(text.replace(old, new, 1))
    return out


def test_malformed_arpa_files_name_the_file_and_line(tmp_path):
    good = _good_arpa(tmp_path)
    lines = good.read_text().splitlines()
    first_bigram = next(i for i, ln in enumerate(lines, 1) if ln == "\\2-grams:") + 1
    p, words = lines[first_bigram - 1].split("\t")[:2]
    cases = {
        _edit(good, lines[first_bigram - 1], f"oops\t{words}", "nan.arpa"):
            rf"nan\.arpa, line {first_bigram}: log10 probability 'oops' is not a number",
        _edit(good, lines[first_bigram - 1], f"{p}\t{words.split()[0]} zebra", "unknown.arpa"):
            rf"unknown\.arpa, line {first_bigram}: word 'zebra' of a 2-gram is not among the 1-grams",
        _edit(good, lines[first_bigram - 1], f"{p}\t{words} extra words", "fields.arpa"):
            rf"fields\.arpa, line {first_bigram}: expected a log10 probability, 2 word\(s\)",
        _edit(good, "ngram 2=", "ngram two=", "header.arpa"): r"header\.arpa, line 3: expected 'ngram N=COUNT'",
        _edit(good, lines[first_bigram - 1], f"5.0\t{words}", "positive.arpa"):   # probe round 3: ppl < 1
            rf"positive\.arpa, line {first_bigram}: log10 probability '5.0' is above 0",
    }
    latin = tmp_path / "latin1.arpa"
    latin.write_bytes(good.read_bytes().replace(b"\\2-grams:\n", b"\\2-grams:\n-1\t\xe9t\xe9 a\n", 1))
    cases[latin] = rf"latin1\.arpa, line {first_bigram}: not UTF-8"
    from seqgen.app.export import export

    for path, message in cases.items():
        with pytest.raises(DataError, match=message):
            export({"arpa": str(path), "format": "checkpoint", "out": str(tmp_path / "x.pt")})
    res = run_script(["scripts/export.py", f"arpa={latin}", "format=checkpoint", f"out={tmp_path / 'x.pt'}"],
                     check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "latin1.arpa, line" in res.stderr, res.stderr
    spaced = _edit(good, "\t", " ", "spaces.arpa")                 # spaces instead of tabs: read as KenLM does
    spaced.write_text(good.read_text().replace("\t", " "))
    assert read_arpa(spaced).vocab == read_arpa(good).vocab
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


# ---- 8. a pickle that calls os.system ----------------------------------------------------------------------

class _System:
    def __reduce__(self):
        import os

        return (os.system, ("echo this ran while loading > ran.txt",))


def test_an_os_system_pickle_is_called_code_and_refused(tmp_path, monkeypatch):
    from seqgen.core import checkpoint as ckpt
    from seqgen.core.errors import CheckpointError

    monkeypatch.chdir(tmp_path)
    torch.save({"format_version": 1, "model_name": "gpt", "x": _System()}, tmp_path / "system.pt")
    with pytest.raises(CheckpointError, match=r"holds code - a pickled call to \S*system, from a blocked module.* "
                                              r"refused without running it"):
        ckpt.load(tmp_path / "system.pt")
    assert not (tmp_path / "ran.txt").exists()
    # a raw pickle (not torch's zip; probe round 3 saw it called "corrupt"), at two protocols
    import pickle

    for protocol in (2, 4):
        with open(tmp_path / "raw.pkl", "wb") as f:
            pickle.dump({"x": _System()}, f, protocol=protocol)
        with pytest.raises(CheckpointError, match=r"holds code - a pickled call to \S*system"):
            ckpt.load(tmp_path / "raw.pkl")
    assert not (tmp_path / "ran.txt").exists()
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04junk, not a pickle")
    with pytest.raises(CheckpointError, match="truncated, corrupt or not a torch checkpoint"):
        ckpt.load(tmp_path / "junk.pt")


# ---- 6. a checkpoint with no or a malformed tokenizer ------------------------------------------------------

@pytest.mark.parametrize("tokenizer, message", [
    (None, "KeyError: 'tokenizer'"), ("not json", "the tokenizer is not valid JSON"),
    ("null", "unknown tokenizer kind None"), ('{"kind": "zzz"}', "unknown tokenizer kind 'zzz'"),
    ('{"kind": "char"}', "the char tokenizer's JSON is malformed"), ('{"kind": "char", "chars": 5}', "malformed")])
def test_a_bad_tokenizer_is_one_line_in_sample_evaluate_export(tmp_path, corpus, tokenizer, message):
    from seqgen.app.export import export
    from seqgen.app.sample import sample
    from seqgen.core.errors import CheckpointError

    state = torch.load(_ngram(tmp_path, corpus, "char"), weights_only=True)
    if tokenizer is None:
        state.pop("tokenizer")
    else:
        state["tokenizer"] = tokenizer
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    for verb in (lambda: sample(compose([f"ckpt={bad}", "max_new_tokens=3", f"out={tmp_path / 'o.txt'}"], "sample")),
                 lambda: evaluate({"ckpt": str(bad), "data_root": str(tmp_path / "data")}),
                 lambda: export({"ckpt": str(bad), "format": "arpa", "out": str(tmp_path / "m.arpa")})):
        with pytest.raises(CheckpointError, match=f"bad.pt does not rebuild a ngram model .*{message}"):
            verb()


def test_a_gpt_checkpoint_without_its_tokenizer_is_refused(tmp_path):
    from dataclasses import asdict

    from seqgen.app.load import load_model
    from seqgen.core.errors import CheckpointError
    from seqgen.families.gpt.model import GPT

    cfg = GPT.Config(vocab_size=12, n_layer=1, n_head=1, n_embd=8, block_size=8)
    torch.save({"format_version": 1, "model_name": "gpt", "model_config": asdict(cfg),
                "model": GPT(cfg).state_dict(), "step": 0}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="g.pt has no tokenizer .* gpt model cannot read or write text"):
        load_model(tmp_path / "g.pt")
