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

    @classmethod
    def fit(cls, texts, **_):
        chars = set()
        for t in texts:
            chars.update(t)
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

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in ids)

    @property
    def vocab_size(self):
        return len(self.itos)

    def to_json(self):
        return json.dumps({"kind": self.kind, "chars": self.itos}, ensure_ascii=False)

    @classmethod
    def _from_state(cls, state):
        return cls(state["chars"])


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
        counts.pop(UNK, None)
        # most frequent first, ties broken alphabetically so the vocabulary is deterministic
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            words = words[: max(0, max_vocab - 1)]
        return cls([UNK] + words, split, lowercase)

    def encode(self, text):
        get, unk = self.stoi.get, self.unk_id
        return [get(w, unk) for w in self.tokenize(text, self.split, self.lowercase)]

    def decode(self, ids):
        words = [self.itos[int(i)] for i in ids]
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
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    def encode(self, text):
        return self.hf.encode(text).ids

    def decode(self, ids):
        return self.hf.decode([int(i) for i in ids])

    @property
    def vocab_size(self):
        return self.hf.get_vocab_size()

    def to_json(self):
        return json.dumps({"kind": self.kind, "hf": self.hf.to_str()})

    @classmethod
    def _from_state(cls, state):
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(state["hf"]))


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def fit_tokenizer(kind: str, texts, **options) -> Tokenizer:
    if kind not in TOKENIZERS:
        raise ValueError(f"data.tokenizer must be one of {sorted(TOKENIZERS)}, got {kind!r}")
    return TOKENIZERS[kind].fit(texts, **options)
