"""N-gram persistence: plain-dict checkpoint state and the ARPA text format (log10, backoffs)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import DataError
from seqgen.data.tokenizer import EOL, CharTokenizer, Tokenizer, WordTokenizer
from seqgen.families.base import entries_differ
from seqgen.families.ngram.model import BOS, EOS, UNK, NGram, lookup, ngram_words


def to_state(model: NGram) -> dict:
    """Tensors and primitives only (loads with weights_only=True). Tables that are read-only maps of
    files (model.memory) become tensors over the same maps, never written through: checkpoint.save
    copies them file to file."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return {"vocab": list(model.vocab),
                "keys": [torch.from_numpy(k) for k in model.keys],
                "logp": [torch.from_numpy(p) for p in model.logp],
                "bow": [torch.from_numpy(b) for b in model.bow],
                "discounts": [list(map(float, d)) for d in model.discounts]}


def from_state(config: NGram.Config, state: dict) -> NGram:
    model = NGram(config, state["vocab"])
    model.keys = [k.numpy() for k in state["keys"]]
    model.logp = [p.numpy() for p in state["logp"]]
    model.bow = [b.numpy() for b in state["bow"]]
    model.discounts = [tuple(d) for d in state.get("discounts", [])]
    return model


# ARPA words are separated by spaces and lines by newlines, so a token holding whitespace (the char
# model's " " and "\n", the word model's "\n") is written as <0xHH> (SentencePiece's byte notation),
# and the "<" of a literal "<0x" as <0x3C>: every <0xHH> in a file is then an escape, and reading
# undoes it exactly. KenLM and SRILM read such files as they are (the escapes are ordinary words).
_ESCAPE = re.compile(r"\s|<(?=0x)")
_UNESCAPE = re.compile(r"<0x([0-9A-Fa-f]{2,6})>")


def escape_word(w: str) -> str:
    return _ESCAPE.sub(lambda m: f"<0x{ord(m.group()):02X}>", w) if w else "<0x>"


def unescape_word(w: str) -> str:
    return "" if w == "<0x>" else _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), w)


def write_arpa(model: NGram, path) -> None:
    """ARPA file: `log10 p <tab> w1 .. wn [<tab> log10 backoff]`, 9 significant digits (float32 exact);
    tokens with whitespace escaped (escape_word)."""
    names = [escape_word(w) for w in model.vocab]
    if len(set(names)) != len(names):
        seen = {}
        for i, w in enumerate(model.vocab):
            if names[i] in seen:
                raise DataError(f"tokens {seen[names[i]]} and {i} both read {w!r}: ARPA names words by their text, "
                                f"so this vocabulary (e.g. byte-level BPE pieces) has no ARPA form")
            seen[names[i]] = i
    words = np.array(names, dtype=object)
    tables = ngram_words(model)
    N = model.config.order
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n in range(1, N + 1):
            f.write(f"ngram {n}={len(tables[n - 1])}\n")
        for n in range(1, N + 1):
            f.write(f"\n\\{n}-grams:\n")
            text = [" ".join(row) for row in words[tables[n - 1]]]
            lp = model.logp[n - 1]
            if n < N:
                bw = model.bow[n - 1]
                f.writelines(f"{p:.9g}\t{t}\t{b:.9g}\n" for p, t, b in zip(lp.tolist(), text, bw.tolist()))
            else:
                f.writelines(f"{p:.9g}\t{t}\n" for p, t in zip(lp.tolist(), text))
        f.write("\n\\end\\\n")


def _lines(path):
    """(line number, text) of a file, a DataError naming the line that is not UTF-8."""
    try:
        with open(path, "rb") as f:
            for i, raw in enumerate(f, 1):
                try:
                    yield i, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise DataError(f"{path}, line {i}: not UTF-8 ({e.reason} at byte {e.start}); ARPA files "
                                    f"are read as UTF-8") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from None


def _number(path, i: int, text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{path}, line {i}: {what} {text!r} is not a number") from None
    if v != v or v == float("inf"):
        raise DataError(f"{path}, line {i}: {what} {text!r} is not a log10 probability")
    if what == "log10 probability" and v > 0:
        raise DataError(f"{path}, line {i}: {what} {text!r} is above 0, a probability above 1")
    return v


def _parse(path) -> tuple[dict, dict]:
    """-> ({n: declared count}, {n: [(line, log10 p, words, backoff)]}); every malformed line named."""
    sections: dict[int, list] = {}
    counts: dict[int, int] = {}
    current, started = None, False
    for i, line in _lines(path):
        if not line.strip():
            continue
        if not started:                         # text before \data\ is ignored, as KenLM does
            started = line.strip() == "\\data\\"
            continue
        if line.startswith("ngram ") and current is None:
            n, _, c = line[6:].partition("=")
            if not (n.strip().isdigit() and c.strip().isdigit()):
                raise DataError(f"{path}, line {i}: expected 'ngram N=COUNT', got {line!r}")
            counts[int(n)] = int(c)
        elif line.startswith("\\") and line.endswith("-grams:"):
            n = line[1:line.index("-")]
            if not n.isdigit() or int(n) not in counts:
                raise DataError(f"{path}, line {i}: section {line!r} is not declared in the \\data\\ header")
            current = int(n)
            sections[current] = []
        elif line.strip() == "\\end\\":
            break
        elif current is None:
            raise DataError(f"{path}, line {i}: expected 'ngram N=COUNT' or a '\\N-grams:' section, got {line[:60]!r}")
        else:                                   # log10 p, n words, [backoff]: tabs or spaces (KenLM reads both)
            parts = line.split()
            if len(parts) not in (current + 1, current + 2):
                raise DataError(f"{path}, line {i}: expected a log10 probability, {current} word(s) and an optional "
                                f"backoff, got {len(parts)} field(s): {line[:80]!r}")
            bo = _number(path, i, parts[-1], "backoff") if len(parts) == current + 2 else 0.0
            sections[current].append((i, _number(path, i, parts[0], "log10 probability"),
                                      [unescape_word(w) for w in parts[1:current + 1]], bo))
    if not started or 1 not in sections:
        raise DataError(f"{path} is not an ARPA file (no \\data\\ header with a \\1-grams: section)")
    for n, c in counts.items():
        if len(sections.get(n, [])) != c:
            raise DataError(f"{path}: header says {c} {n}-grams, found {len(sections.get(n, []))}")
    return counts, sections


def read_arpa(path, vocab_order: list[str] | None = None) -> NGram:
    """Load an ARPA file (KenLM, SRILM or ours). vocab_order fixes the id of each word if given.
    A malformed file is a DataError naming the file and line."""
    _, sections = _parse(path)
    N = max(sections)
    names = [e[2][0] for e in sections[1]]
    if len(set(names)) != len(names):
        seen = set()
        line, w = next((e[0], e[2][0]) for e in sections[1] if e[2][0] in seen or seen.add(e[2][0]))
        raise DataError(f"{path}, line {line}: the 1-gram {w!r} appears twice")
    for special in (BOS, EOS, UNK):
        if special not in names:
            raise DataError(f"{path}: the unigrams lack {special}")
    vocab = list(vocab_order) if vocab_order else names
    stoi = {w: i for i, w in enumerate(vocab)}
    V = len(vocab)
    model = NGram(NGram.Config(order=N, vocab_size=V), vocab)
    lp1, bw1 = np.full(V, -99.0, np.float32), np.zeros(V, np.float32)
    ids = np.array([stoi[w] for w in names])
    lp1[ids] = [e[1] for e in sections[1]]
    bw1[ids] = [e[3] for e in sections[1]]
    model.keys, model.logp, model.bow = [np.arange(V, dtype=np.int64)], [lp1], [bw1]
    for n in range(2, N + 1):
        entries = sections.get(n, [])
        try:
            W = np.array([[stoi[w] for w in e[2]] for e in entries], dtype=np.int64).reshape(-1, n)
        except KeyError as e:
            line = next(x[0] for x in entries if any(w not in stoi for w in x[2]))
            raise DataError(f"{path}, line {line}: word {e.args[0]!r} of a {n}-gram is not among the 1-grams") from None
        g = W[:, 0]
        for j in range(1, n - 1):  # id of the (n-1)-word prefix, order by order
            g = lookup(model.keys[j], g * V + W[:, j])
            if (g < 0).any():
                line = entries[int(np.argmax(g < 0))][0]
                raise DataError(f"{path}, line {line}: this {n}-gram's prefix is missing from the {j + 1}-grams")
        keys = g * V + W[:, n - 1]
        order = np.argsort(keys)
        model.keys.append(keys[order])
        model.logp.append(np.array([e[1] for e in entries], np.float32)[order])
        if n < N:
            model.bow.append(np.array([e[3] for e in entries], np.float32)[order])
    if N == 1:
        model.bow = []
    else:
        model.bow = model.bow[: N - 1]
    return model


def arpa_to_checkpoint(arpa_path, out) -> Path:
    """export.py arpa=FILE format=checkpoint: a data-free seqgen n-gram checkpoint from an ARPA file
    (KenLM, SRILM, ours) with a tokenizer whose ids are the model's: characters when every word is one
    character (an exported char model), seqgen's word split when "\n" is a word (an exported word
    model, which keeps line breaks), else whitespace-separated words (KenLM's convention)."""
    if not Path(arpa_path).is_file():
        raise DataError(f"arpa={arpa_path}: file not found")
    words = read_arpa(arpa_path).vocab
    plain = [w for w in words if w not in (BOS, EOS, UNK)]
    if plain and all(len(w) == 1 for w in plain):
        tok, order = CharTokenizer(plain), plain + [BOS, EOS, UNK]
    else:
        itos = [UNK] + plain
        tok = WordTokenizer(itos, split="words" if EOL in plain else "whitespace")
        order = itos + [BOS, EOS]
    model = read_arpa(arpa_path, vocab_order=order)  # tokenizer ids == model ids
    return ckpt.save({"model_name": "ngram", "model_config": model.config.__dict__.copy(),
                      "tokenizer": tok.to_json(), "model": to_state(model), "step": 0, "metrics": {},
                      "config": {"source": str(arpa_path)}}, out)


def export_arpa(model, state, out) -> Path:
    """export.py ckpt=<n-gram> format=arpa out=FILE."""
    write_arpa(model, out)
    return Path(out)


def load(state: dict, device):
    """(NGram, tokenizer) from a checkpoint: the tables are numpy arrays, device is not used."""
    return from_state(NGram.Config(**state["model_config"]), state["model"]), Tokenizer.from_json(state["tokenizer"])


def model_vocab(tok) -> list[str]:
    """The model's vocabulary: the tokenizer's ids unchanged, then <s>, </s> (and <unk> if missing)."""
    itos = [tok.decode([i]) if tok.kind != "word" else tok.itos[i] for i in range(tok.vocab_size)]
    return itos + [w for w in (BOS, EOS, UNK) if w not in itos]


def tokenizer_fits(model, tok) -> str | None:
    """None when `tok` is the tokenizer the model's ids were counted with: its vocabulary is the
    tokenizer's entries, in order, then <s>, </s> (and <unk>) - see model_vocab."""
    return entries_differ(model.vocab, model_vocab(tok))
