"""Tokenizers: round trips, <unk>, vocabulary rules, save / load."""

import pytest

from seqgen.data.tokenizer import UNK, CharTokenizer, Tokenizer, WordTokenizer, fit_tokenizer

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer\n"


def test_char_round_trip_and_sorted_vocab():
    tok = CharTokenizer.fit([TEXT])
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.itos == sorted(set(TEXT))
    with pytest.raises(ValueError, match="not in the"):
        tok.encode("Z")


def test_word_unk_min_count_and_max_vocab():
    tok = WordTokenizer.fit([TEXT], min_count=2)
    assert tok.itos[0] == UNK
    assert set(tok.itos[1:]) == {"to", "be", "the", "\n"}  # the words seen at least twice
    ids = tok.encode("to be or xyzzy")
    assert ids[-1] == tok.unk_id and ids[0] != tok.unk_id
    capped = WordTokenizer.fit([TEXT], max_vocab=4)
    assert capped.vocab_size == 4


def test_word_decode_reads_naturally():
    plain = "To be, or not to be: that is the question.\nWhether it is nobler (in the mind) to suffer!\n"
    tok = WordTokenizer.fit([plain])
    assert tok.decode(tok.encode(plain)) == plain
    ws = WordTokenizer.fit([TEXT], split="whitespace")
    assert ws.decode(ws.encode("that is the")) == "that is the"


def test_bpe_round_trip():
    tok = fit_tokenizer("bpe", [TEXT * 20], vocab_size=300)
    assert tok.vocab_size <= 300
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.decode(tok.encode("unseen wörds ✓")) == "unseen wörds ✓"  # byte level: no unknowns


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_load(tmp_path, kind):
    tok = fit_tokenizer(kind, [TEXT * 5], vocab_size=280)
    tok.save(tmp_path / "tok.json")
    again = Tokenizer.load(tmp_path / "tok.json")
    assert again.encode(TEXT) == tok.encode(TEXT) and again.vocab_size == tok.vocab_size


def test_unknown_kind():
    with pytest.raises(ValueError, match="data.tokenizer must be one of"):
        fit_tokenizer("sentencepiece", [TEXT])


@pytest.mark.parametrize("kind", ["char", "word"])
def test_decoding_an_id_outside_the_vocabulary_is_named(kind):
    """Probe round 3: a checkpoint carrying a smaller tokenizer than its model sampled ids past it and
    ended in an IndexError traceback (and a negative id wrapped silently to the end of the list)."""
    from seqgen.core.errors import DataError

    tok = fit_tokenizer(kind, ["the cat sat on the mat\n"])
    assert tok.decode(tok.encode("the cat")) == "the cat"
    for bad in (tok.vocab_size, -1):
        with pytest.raises(DataError, match=rf"token id {bad} is outside the tokenizer's {tok.vocab_size} entries"):
            tok.decode([0, bad])
