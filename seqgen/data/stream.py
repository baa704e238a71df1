"""Text streamed from disk in bounded memory: UTF-8 byte ranges decoded block by block, and re-cut
into chunks at borders where cutting changes no tokenizer's output.

A split is a list of *parts*: `Segment`s (a byte range of a UTF-8 file) and literal strings (the
"\n" joining two files). Every function here holds one block (a few MB) at a time, never a split.

Why the border rule (`safe_border`): byte-level BPE pre-tokenises with GPT-2's regex, whose
whitespace alternatives (`\\s+(?!\\S)|\\s+`) depend on a whole whitespace run and the character after
it, so cutting right after a line break changes the pieces when the line ends in spaces, "\r\n" or
a blank line. Cutting just before the *last* character of a maximal whitespace run that has
non-space characters on both sides gives, for the left part, the run minus its last character
(matched at the end either way) and, for the right part, that character alone or with the word it
prefixes — exactly the pieces of the whole text. The same borders are safe for the char and word
tokenizers (no word token contains whitespace; lower-casing's final-sigma rule stops at spaces).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seqgen.core.errors import DataError

BLOCK = 4 << 20                 # bytes read and decoded at a time
RUN = frozenset(" \t\r\n\x0b\x0c")   # whitespace every regex engine agrees on (a border run is made of these)


@dataclass(frozen=True)
class Segment:
    """Bytes [start, end) of a UTF-8 file, named by the config key that gave it (for errors)."""

    path: Path
    start: int
    end: int
    key: str

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def _complete(buf: bytes) -> int:
    """Length of the longest prefix of buf that does not end inside a UTF-8 sequence."""
    n = len(buf)
    for back in range(1, min(4, n) + 1):
        b = buf[n - back]
        if b & 0xC0 != 0x80:                     # a lead (or ASCII) byte: is its sequence complete?
            need = 1 if b < 0x80 else 2 if b >> 5 == 6 else 3 if b >> 4 == 14 else 4 if b >> 3 == 30 else 1
            return n if back >= need else n - back
    return n


def segment_blocks(seg: Segment, block: int | None = None) -> Iterator[str]:
    """Decoded text of seg, block by block; invalid UTF-8 is one DataError with the byte offset."""
    block = block or BLOCK
    with open(seg.path, "rb") as f:
        f.seek(seg.start)
        pos, carry = seg.start, b""
        while pos < seg.end:
            raw = carry + f.read(min(block, seg.end - pos))
            if len(raw) == len(carry):           # the file shrank under us
                break
            pos += len(raw) - len(carry)
            cut = len(raw) if pos >= seg.end else _complete(raw)
            try:
                text = raw[:cut].decode("utf-8")
            except UnicodeDecodeError as e:
                at = pos - len(raw) + e.start
                raise DataError(f"{seg.key}={seg.path}: not valid UTF-8 (byte {at}: {raw[e.start:e.start + 4]!r}); "
                                f"convert it with e.g. `iconv -f latin1 -t utf-8`") from None
            carry = raw[cut:]
            if text:
                yield text


def part_blocks(parts: list, block: int | None = None) -> Iterator[str]:
    for p in parts:
        if isinstance(p, str):
            if p:
                yield p
        else:
            yield from segment_blocks(p, block)


@dataclass
class Scan:
    chars: int
    has_text: bool     # a non-whitespace character somewhere (str.strip() would leave something)
    last: str          # the last character ("" when empty)


def scan(seg: Segment) -> Scan:
    """One pass over a segment: validates UTF-8, counts characters."""
    chars, has_text, last = 0, False, ""
    for text in segment_blocks(seg):
        chars += len(text)
        has_text = has_text or bool(text.strip())
        last = text[-1]
    return Scan(chars, has_text, last)


def _byte_of_char(seg: Segment, k: int) -> int:
    """Byte offset (in the file) of character k of seg (k <= its character count)."""
    pos = seg.start
    for text in segment_blocks(seg):
        if k <= len(text):
            return pos + len(text[:k].encode("utf-8"))
        k -= len(text)
        pos += len(text.encode("utf-8"))
    return seg.end


def slice_parts(parts: list, counts: list[int], a: int, b: int) -> tuple[list, list[int]]:
    """Characters [a, b) of the stream that parts (with their character counts) make: (parts, counts)."""
    out, sizes, base = [], [], 0
    for p, n in zip(parts, counts):
        lo, hi = max(a - base, 0), min(b - base, n)
        if lo < hi:
            if isinstance(p, str):
                out.append(p[lo:hi])
            else:
                out.append(Segment(p.path, _byte_of_char(p, lo), _byte_of_char(p, hi), p.key))
            sizes.append(hi - lo)
        base += n
    return out, sizes


def find_newline(parts: list, counts: list[int], i: int) -> int:
    """Index of the first "\n" at or after character i of the stream, or -1."""
    base = 0
    for p, n in zip(parts, counts):
        if base + n > i:
            lo = max(i - base, 0)
            if isinstance(p, str):
                j = p.find("\n", lo)
                if j >= 0:
                    return base + j
            else:
                at = lo
                for text in segment_blocks(Segment(p.path, _byte_of_char(p, lo), p.end, p.key)):
                    j = text.find("\n")
                    if j >= 0:
                        return base + at + j
                    at += len(text)
        base += n
    return -1


def safe_border(text: str, lo: int = 1, hi: int | None = None, line: bool = True) -> int:
    """The last index p, lo <= p, whose run starts before hi, where text[:p] | text[p:] tokenizes like
    the whole text (see the module docstring), or -1. line=True takes only runs holding a line break."""
    end = len(text) if hi is None else min(hi, len(text))
    while True:
        j = text.rfind("\n", lo, end) if line else max(text.rfind(" ", lo, end), text.rfind("\n", lo, end))
        if j < lo:
            return -1
        q = j                                      # run [s, q] of RUN characters around j
        while q + 1 < len(text) and text[q + 1] in RUN:
            q += 1
        s = j
        while s > 0 and text[s - 1] in RUN:
            s -= 1
        if q + 1 < len(text) and not text[q + 1].isspace() and s > 0 and not text[s - 1].isspace() \
                and q >= lo:
            return q
        end = s                                    # look before this run
        if end <= lo:
            return -1


def aligned_chunks(blocks: Iterable[str], size: int, anywhere: bool = False) -> Iterator[str]:
    """Re-cut a stream of text blocks into chunks of about `size` characters at safe borders
    (preferring line breaks). anywhere=True (char tokenizers) may cut at any character when a
    stretch holds no border; otherwise such a stretch stays whole."""
    buf = ""
    for block in blocks:
        buf = buf + block if buf else block
        while len(buf) > size:
            p = safe_border(buf, lo=size // 4, hi=size)
            if p < 0:                              # no line border near size: any border further on
                p = safe_border(buf, lo=size // 4)
            if p < 0 and len(buf) > 4 * size:      # one very long line: cut between words
                p = safe_border(buf, lo=size // 4, hi=size, line=False)
                if p < 0:
                    p = safe_border(buf, lo=size // 4, line=False)
                if p < 0 and anywhere:
                    p = size
            if p < 0:
                break
            yield buf[:p]
            buf = buf[p:]
    if buf:
        yield buf
