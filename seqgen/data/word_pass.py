"""Word preparation in one pass over train: count the vocabulary and encode the split together.

The word tokenizer is Python (a regex split and a dict lookup per word), and the split is its cost:
preparing a 1 GB corpus spent 35 s splitting train to count its words and 62 s splitting it again to
encode it. When the vocabulary is fitted on the whole train split (no data.tokenizer_sample that stops
short of it), one split serves both: each word gets a provisional id in order of first appearance, the
provisional ids go to a temporary file and are counted with bincount, and once the vocabulary is known
a lookup table (provisional id -> final id, <unk> for the words it leaves out) rewrites the file into
`train.bin` at numpy speed. The ids, the line index and the vocabulary are those of fitting and then
encoding (tests/data/test_streaming.py compares the files byte for byte).

Memory: the provisional numbering holds every distinct word once, as the fit's Counter did.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from seqgen.data.lines import LineWriter
from seqgen.data.prepared import id_dtype
from seqgen.data.tokenizer import WordTokenizer

REMAP_BLOCK = 1 << 22   # provisional ids rewritten per step (16 MB of uint32)


class _Numbering(dict):
    """word -> provisional id; a word not seen before is numbered on the spot (dict lookups of the
    words already numbered stay in C)."""

    def __missing__(self, word):
        i = self[word] = len(self)
        return i


def count_and_encode(chunks, out: Path, cfg, bar) -> tuple[WordTokenizer, dict]:
    """Fit the word tokenizer on train's chunks and write `train.bin` / `train.lines` in the same
    pass. Returns the tokenizer and {"tokens": n, "lines": line info}."""
    numbering = _Numbering()
    numbering["\n"] = 0   # the line writer needs its id before the first chunk ("words" keeps line breaks)
    # the line writer reads kind / split / lowercase and the id of "\n" from a tokenizer
    provisional = SimpleNamespace(kind="word", split=cfg.word_split, lowercase=cfg.lowercase, stoi=numbering)
    lines = LineWriter(out / "train.lines", provisional)
    counts = np.zeros(1 << 16, np.int64)
    n = 0
    tmp = out / "train.ids.tmp"   # *.tmp: removed by the next preparation if this one is killed
    with open(tmp, "wb") as f:
        for chunk in bar.wrap(chunks):
            words = WordTokenizer.tokenize(chunk, cfg.word_split, cfg.lowercase)
            ids = np.fromiter(map(numbering.__getitem__, words), np.int64, len(words))
            if len(numbering) > len(counts):
                counts = np.concatenate([counts, np.zeros(max(len(numbering), 2 * len(counts)) - len(counts),
                                                          np.int64)])
            if ids.size:
                c = np.bincount(ids)
                counts[: len(c)] += c
            ids.astype(np.uint32).tofile(f)
            n += ids.size
            bar.tokens(ids.size)
            lines.add(chunk, ids)
    words = list(numbering)        # in provisional-id order
    tok = WordTokenizer.from_counts(dict(zip(words, counts[: len(words)].tolist())), cfg.min_count,
                                    cfg.max_vocab, cfg.word_split, cfg.lowercase)
    get, unk = tok.stoi.get, tok.unk_id
    table = np.fromiter((get(w, unk) for w in words), np.dtype(id_dtype(tok.vocab_size)), len(words))
    # read in blocks, not memory-mapped: mapped pages would count in the peak RSS up to the file's size
    with open(tmp, "rb") as src, open(out / "train.bin", "wb") as f:
        while (block := np.fromfile(src, np.uint32, REMAP_BLOCK)).size:
            table[block].tofile(f)
    os.unlink(tmp)
    return tok, {"tokens": n, "lines": lines.close()}
