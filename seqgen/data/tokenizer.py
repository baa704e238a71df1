"""Character, word and BPE tokenizers behind one interface: encode, decode, vocab_size, save, load.

Every tokenizer serialises to one JSON document (`to_json` / `from_json`), which is saved beside the
prepared data, copied into the run directory and embedded in checkpoints, so a checkpoint alone
rebuilds its tokenizer.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from seqgen.core.errors import DataError

UNK = "<unk>"
EOL = "\n"  # word tokenizers keep line breaks as a token so generated text keeps its layout

# word mode: words (with inner apostrophes), numbers, single punctuation marks, and line breaks
_WORD_RE = re.compile(r"\n|[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[^\w\s]|_")
_NO_SPACE_BEFORE = set(".,;:!?')]}")
_NO_SPACE_AFTER = set("([{")


class Tokenizer:
    kind = "base"

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's ids as an int64 array (what streaming preparation appends to a split)."""
        return [np.asarray(self.encode(t), dtype=np.int64) for t in texts]

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def to_json(self) -> str:
        raise NotImplementedError

    def save(self, path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @staticmethod
    def from_json(text: str) -> "Tokenizer":
        """A tokenizer from its JSON; anything malformed is a DataError saying what (never a traceback)."""
        try:
            state = json.loads(text)
        except (TypeError, ValueError) as e:
            raise DataError(f"the tokenizer is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
        kind = state.get("kind") if isinstance(state, dict) else None
        if kind not in TOKENIZERS:
            raise DataError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(TOKENIZERS)}")
        try:
            return TOKENIZERS[kind]._from_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"the {kind} tokenizer's JSON is malformed ({type(e).__name__}: {str(e)[:120]})") from None

    @staticmethod
    def load(path) -> "Tokenizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        return Tokenizer.from_json(path.read_text(encoding="utf-8"))


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """A sampling prompt's ids: a character vocabulary folds the characters it lacks to their base
    letters (`prompt="Zoë"` on tiny-shakespeare is read as "Zoe") and says so once; a character with
    no such form is one error naming the prompt."""
    if isinstance(tokenizer, CharTokenizer):
        prompt, changed = tokenizer.fold(prompt)
        if changed:
            print("[seqgen] warning: not in this model's characters, read as their base letters: "
                  + ", ".join(f"{a!r} -> {b!r}" for a, b in changed.items()), flush=True)
    try:
        return tokenizer.encode(prompt)
    except DataError as e:
        raise DataError(f"prompt: {e}") from None


class CharTokenizer(Tokenizer):
    """One id per Unicode character, vocabulary sorted (nanoGPT's shakespeare_char convention)."""

    kind = "char"

    def __init__(self, chars):
        self.itos = list(chars)
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        # code points sorted, and each one's id: encode_batch looks whole arrays up with searchsorted
        codes = np.array([ord(c) for c in self.itos], dtype=np.int64)
        self._order = np.argsort(codes, kind="stable")
        self._codes = codes[self._order]

    @classmethod
    def fit(cls, texts, **_):
        chars = set()
        for t in texts:   # np.unique over code points: ~50x faster than set.update on a long str
            chars.update(map(chr, np.unique(np.frombuffer(t.encode("utf-32-le", "surrogatepass"), np.uint32))))
        return cls(sorted(chars))

    def encode(self, text):
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as e:
            raise DataError(f"character {e.args[0]!r} is not in the {len(self.itos)}-character "
                             f"vocabulary of this tokenizer") from None

    def fold(self, text: str) -> tuple[str, dict]:
        """text with each character this vocabulary lacks written as its base letter where that is in
        the vocabulary (Unicode NFKD without combining marks: 'ë' -> 'e', 'ﬁ' -> 'fi') -> (text,
        {character: replacement}). Characters without such a form stay (encode names them)."""
        out, changed = [], {}
        for ch in text:
            if ch not in self.stoi:
                base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
                if base and all(c in self.stoi for c in base):
                    changed[ch] = base
                    ch = base
            out.append(ch)
        return "".join(out), changed

    def encode_batch(self, texts):
        out = []
        for t in texts:
            cp = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.int64)
            at = np.minimum(np.searchsorted(self._codes, cp), len(self._codes) - 1)
            bad = np.flatnonzero(self._codes[at] != cp)
            if bad.size:
                raise DataError(f"character {chr(cp[bad[0]])!r} is not in the {len(self.itos)}-character "
                                f"vocabulary of this tokenizer")
            out.append(self._order[at])
        return out

    def decode(self, ids):
        return "".join(_strings(self.itos, ids))

    @property
    def vocab_size(self):
        return len(self.itos)

    def to_json(self):
        return json.dumps({"kind": self.kind, "chars": self.itos}, ensure_ascii=False)

    @classmethod
    def _from_state(cls, state):
        return cls(state["chars"])


def _strings(itos: list[str], ids) -> list[str]:
    """itos of each id; an id outside the vocabulary is a DataError, not an IndexError (or, negative, a
    silent wrap to the end): a model whose checkpoint carries another model's tokenizer produces them."""
    ids = [int(i) for i in ids]
    if ids and (min(ids) < 0 or max(ids) >= len(itos)):
        bad = next(i for i in ids if not 0 <= i < len(itos))
        raise DataError(f"token id {bad} is outside the tokenizer's {len(itos)} entries: the tokenizer does not "
                        f"belong to the model that produced the ids (a hand-edited or mixed-up checkpoint?)")
    return [itos[i] for i in ids]


class _UnkDict(dict):
    """stoi whose missing words map to the <unk> id (dict.__getitem__ stays in C for the hits)."""

    def __init__(self, stoi: dict, unk: int):
        super().__init__(stoi)
        self.unk = unk

    def __missing__(self, key):
        return self.unk


class WordTokenizer(Tokenizer):
    """Words with `<unk>`; the vocabulary keeps words seen >= min_count times, at most max_vocab.

    split="words" separates punctuation and keeps line breaks (for generation);
    split="whitespace" splits on whitespace only (KenLM / word2vec conventions).
    """

    kind = "word"

    def __init__(self, itos, split="words", lowercase=False):
        if split not in ("words", "whitespace"):
            raise ValueError(f"word split must be 'words' or 'whitespace', got {split!r}")
        self.itos, self.split, self.lowercase = list(itos), split, lowercase
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.unk_id = self.stoi[UNK]

    @staticmethod
    def tokenize(text, split="words", lowercase=False):
        if lowercase:
            text = text.lower()
        if split == "whitespace":
            return text.split()
        return _WORD_RE.findall(text)

    @classmethod
    def fit(cls, texts, min_count=1, max_vocab=None, split="words", lowercase=False, **_):
        counts = Counter()
        for t in texts:
            counts.update(cls.tokenize(t, split, lowercase))
        return cls.from_counts(counts, min_count, max_vocab, split, lowercase)

    @classmethod
    def from_counts(cls, counts: dict, min_count=1, max_vocab=None, split="words", lowercase=False):
        """The vocabulary of word counts {word: count} (fit's, or seqgen.data.word_pass's)."""
        counts.pop(UNK, None)
        # most frequent first, ties broken alphabetically so the vocabulary is deterministic
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            words = words[: max(0, max_vocab - 1)]
        return cls([UNK] + words, split, lowercase)

    def encode(self, text):
        get, unk = self.stoi.get, self.unk_id
        return [get(w, unk) for w in self.tokenize(text, self.split, self.lowercase)]

    def encode_batch(self, texts):
        return [self.encode_words(self.tokenize(t, self.split, self.lowercase)) for t in texts]

    def encode_words(self, words: list[str]) -> np.ndarray:
        """The ids of already split words as int64: a C-level map over a dict whose misses are <unk>
        (about 1.4x the list comprehension over .get that encode uses)."""
        lookup = getattr(self, "_lookup", None)
        if lookup is None:
            lookup = self._lookup = _UnkDict(self.stoi, self.unk_id)
        return np.fromiter(map(lookup.__getitem__, words), dtype=np.int64, count=len(words))

    def decode(self, ids):
        words = _strings(self.itos, ids)
        if self.split == "whitespace":
            return " ".join(words)
        out = []
        for w in words:
            if out and out[-1] != EOL and w != EOL and w[0] not in _NO_SPACE_BEFORE \
                    and out[-1][-1] not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(w)
        return "".join(out)

    @property
    def vocab_size(self):
        return len(self.itos)

    def to_json(self):
        return json.dumps({"kind": self.kind, "split": self.split, "lowercase": self.lowercase,
                           "words": self.itos}, ensure_ascii=False)

    @classmethod
    def _from_state(cls, state):
        return cls(state["words"], state["split"], state["lowercase"])


class BPETokenizer(Tokenizer):
    """Byte-level BPE trained with Hugging Face `tokenizers` (GPT-2 style, no unknown tokens)."""

    kind = "bpe"

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer

    @classmethod
    def fit(cls, texts, vocab_size=1024, **_):
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    def encode(self, text):
        return self.hf.encode(text).ids

    def encode_batch(self, texts):  # tokenizers' batch encoder runs on every core
        return [np.asarray(e.ids, dtype=np.int64) for e in self.hf.encode_batch(texts)]

    def decode(self, ids):
        return self.hf.decode([int(i) for i in ids])

    @property
    def vocab_size(self):
        return self.hf.get_vocab_size()

    def to_json(self):
        return json.dumps({"kind": self.kind, "hf": self.hf.to_str()})

    @classmethod
    def _from_state(cls, state):
        return cls(HFTokenizer.from_str(state["hf"]))


class IdsTokenizer(Tokenizer):
    """Ids tokenized elsewhere (data=tokens): a vocabulary size, and the Hugging Face tokenizer.json
    that made them when one is given (then text encodes / decodes through it; else ids print as
    numbers and a prompt is a list of numbers)."""

    kind = "ids"

    def __init__(self, vocab_size: int, hf=None):
        self._vocab_size, self.hf = int(vocab_size), hf

    def encode(self, text):
        if self.hf is not None:
            return self.hf.encode(text).ids
        try:
            return [int(t) for t in text.replace(",", " ").split()]
        except ValueError:
            raise DataError(f"this dataset has no tokenizer (data.tokenizer_json unset): a prompt is token ids "
                            f"such as '464 318', got {text[:40]!r}") from None

    def decode(self, ids):
        if self.hf is not None:
            return self.hf.decode([int(i) for i in ids])
        return " ".join(str(int(i)) for i in ids)

    @property
    def vocab_size(self):
        return self._vocab_size

    def to_json(self):
        return json.dumps({"kind": self.kind, "vocab_size": self._vocab_size,
                           "hf": self.hf.to_str() if self.hf is not None else None})

    @classmethod
    def _from_state(cls, state):
        hf = None
        if state.get("hf"):
            hf = HFTokenizer.from_str(state["hf"])
        return cls(state["vocab_size"], hf)


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer, "ids": IdsTokenizer}
FITTED = ("char", "word", "bpe")   # the kinds data.tokenizer can fit


def fit_tokenizer(kind: str, texts, **options) -> Tokenizer:
    if kind not in FITTED:
        raise ValueError(f"data.tokenizer must be one of {sorted(FITTED)}, got {kind!r}")
    return TOKENIZERS[kind].fit(texts, **options)
