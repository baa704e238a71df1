"""Lines of a prepared split, so line-based models (the n-gram) read the token file instead of the text.

`{split}.lines` (written by preparation for the char and word tokenizers): one record per
"\n"-separated segment of the split's text (`text.split("\n")`, so count("\n") + 1 of them), each two
uint32: the segment's token count (its line-break id excluded) and 1 if it holds a non-space
character, else 0. `meta["lines"][split]` adds `eol` (whether a line-break id follows each segment
in `{split}.bin`: char and word split=words), `final_newline` (the text ends with "\n") and
`nonblank_chars` (sum of len(line) + 1 over the non-blank lines). From these, `line_spans` gives
the token ranges of `sources.text_lines` (blank=True) or of the non-blank lines (blank=False):
the ids the n-gram used to get by encoding each line of the re-read text, exactly.
"""

from __future__ import annotations

import numpy as np

from seqgen.data.tokenizer import WordTokenizer


class LineWriter:
    """Builds `{split}.lines` chunk by chunk while a split is encoded (chunks may end mid-line)."""

    def __init__(self, path, tokenizer):
        self.f = open(path, "wb")
        self.kind = tokenizer.kind
        self.split = getattr(tokenizer, "split", None)
        self.lowercase = getattr(tokenizer, "lowercase", False)
        self.eol = tokenizer.stoi.get("\n") if self.kind in ("char", "word") else None
        self.open_tokens, self.open_text, self.nonblank_chars, self.last = 0, False, 0, ""
        self.open_chars = 0

    @property
    def has_eol(self) -> bool:
        return self.kind == "char" or (self.kind == "word" and self.split == "words")

    def add(self, chunk: str, ids: np.ndarray):
        parts = chunk.split("\n")
        if self.kind == "char":
            tokens = [len(p) for p in parts]
        elif self.split == "whitespace":
            tokens = [len(p.split()) for p in parts]
        elif self.eol is None:   # words, "\n" left out of the vocabulary: count each line's words

            tokens = [len(WordTokenizer.tokenize(p, "words", self.lowercase)) for p in parts]
        else:   # words: segments of the ids between line-break ids
            cuts = np.flatnonzero(ids == self.eol)
            tokens = np.diff(np.concatenate([[-1], cuts, [len(ids)]])) - 1
            tokens = [int(t) for t in tokens]
        has_text = [bool(p.strip()) for p in parts]
        # the first part continues the line left open by the previous chunk
        tokens[0] += self.open_tokens
        has_text[0] = has_text[0] or self.open_text
        first_chars = len(parts[0]) + self.open_chars
        rows = []
        for k in range(len(parts) - 1):                     # every part but the last is a finished line
            n_chars = first_chars if k == 0 else len(parts[k])
            rows.append((tokens[k], has_text[k]))
            if has_text[k]:
                self.nonblank_chars += n_chars + 1
        if rows:
            np.array(rows, dtype=np.uint32).tofile(self.f)
        self.open_tokens, self.open_text = tokens[-1], has_text[-1]
        self.open_chars = len(parts[-1]) if len(parts) > 1 else first_chars
        if chunk:
            self.last = chunk[-1]

    def close(self) -> dict:
        np.array([(self.open_tokens, self.open_text)], dtype=np.uint32).tofile(self.f)
        if self.open_text:
            self.nonblank_chars += self.open_chars + 1
        self.f.close()
        return {"eol": self.has_eol, "final_newline": self.last == "\n", "nonblank_chars": self.nonblank_chars}


def line_spans(path, info: dict, blank: bool) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) token positions in `{split}.bin` of the split's lines: every line as
    sources.text_lines gives them (blank=True), or the non-blank ones (blank=False)."""
    rec = np.fromfile(path, dtype=np.uint32).reshape(-1, 2)
    tokens = rec[:, 0].astype(np.int64)
    step = tokens + (1 if info["eol"] else 0)
    starts = np.concatenate([[0], np.cumsum(step)[:-1]])
    ends = starts + tokens
    keep = rec[:, 1].astype(bool)
    if blank:
        keep = np.ones(len(rec), bool)
        if info["final_newline"]:
            keep[-1] = False                                # text_lines: no line after the last "\n"
    return starts[keep], ends[keep]
