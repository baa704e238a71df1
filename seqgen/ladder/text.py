"""The text ladder on one word corpus (wordmix: 4.67M words), every rung in bits per byte of the whole
held-out text: unigram -> KN-3 -> KN-5 -> ∞-gram -> GPT -> GPT from word2vec -> GPT + ∞-gram.

Bits per byte = total nats over the split / (ln 2 · its UTF-8 bytes), every byte paid for:
- BPE rungs (∞-gram, KN-5 on pieces, the GPT) are open-vocabulary: byte-level BPE has no unknown token.
- Word rungs have `<unk>`. A word outside the vocabulary costs p(<unk> | context) × p_spell(its
  letters), p_spell a character 5-gram (modified Kneser-Ney, one word per line with its </s>) fitted on
  the training corpus's hapax legomena, the words most like unseen ones. It is a distribution over
  letter strings, so the word model stays a distribution over texts (the "spell it out" charge of
  open-vocabulary LMs); scoring `<unk>` alone would price a 12-letter unseen word like one token.
Word perplexity, on the shared "vocabulary" of whitespace words plus one end of line per line, is
2^(bits / words): the same text and the same event count for every rung, so it compares across them.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from seqgen.app import infgram_eval
from seqgen.app.evaluate import evaluate
from seqgen.app.load import load_model
from seqgen.core.config import build
from seqgen.data.prepare import DataConfig, prepare
from seqgen.data.sources import load_splits, text_lines
from seqgen.data.tokenizer import CharTokenizer
from seqgen.families.infgram import load_engine
from seqgen.families.ngram.fit import fit_text
from seqgen.families.ngram.model import score_lines
from seqgen.ladder.costs import Rung

TEXT_DATA = ["data=wordmix"]
WORD = ["data.tokenizer=word"]
BPE = ["data.tokenizer=bpe"]


def text_rungs(quick: bool) -> list[Rung]:
    """The wordmix ladder's trained rungs (hybrids are scored from them in `hybrid_rows`)."""
    pre = "ladder_quick/text_" if quick else "ladder/wordmix_"
    few = {"max_tokens": 20000} if quick else {}
    out = [Rung(f"{pre}{key}", label, "text", [*tok, "model=ngram", f"model.order={n}", "model.blank_lines=true"],
                baseline=True, evaluate=dict(few))
           for key, label, tok, n in (("unigram", "unigram (words)", WORD, 1), ("kn3", "KN-3 (words)", WORD, 3),
                                      ("kn5", "KN-5 (words)", WORD, 5), ("kn5_bpe", "KN-5 (BPE pieces)", BPE, 5))]
    out.append(Rung(f"{pre}infgram", "∞-gram (BPE pieces, suffix array)", "text", [*BPE, "model=infgram"],
                    baseline=True, evaluate={"max_tokens": 20000, "agreement_tokens": 2000} if quick else
                    {"agreement_tokens": 20000}))
    if quick:
        tiny = ["model=gpt", "model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.block_size=32",
                "model.dropout=0.0", "trainer.max_steps=40", "trainer.batch_size=8", "trainer.eval_every=40",
                "trainer.eval_batches=2", "trainer.log_every=20", "trainer.sample_tokens=20"]
        out += [Rung(f"{pre}gpt", "GPT 2x32 (BPE)", "text", [*BPE, *tiny], evaluate=dict(few)),
                Rung(f"{pre}word2vec", "word2vec (words)", "text",
                     [*WORD, "model=word2vec", "model.vector_size=32", "model.epochs=1", "model.min_count=1",
                      "model.eval_sets=false"], evaluate={"eval_sets": False}),
                Rung(f"{pre}gpt_words", "GPT 2x32 (words)", "text", [*WORD, *tiny], evaluate=dict(few)),
                Rung(f"{pre}gpt_w2v", "GPT 2x32 (words), word2vec init", "text", [*WORD, *tiny],
                     init_from=f"{pre}word2vec", evaluate=dict(few))]
        return out
    # word-level GPTs: a 16k vocabulary (the rest spelled out as above), 128 dims so word2vec's fit it
    words_vocab = ["data.max_vocab=16384"]
    # word_split=words: line breaks are tokens, so a word GPT pays for every line end as the word
    # n-grams do with </s> (whitespace split dropped them: 17,058 free events on the test split)
    words_gpt = ["experiment=gpt_wordmix", "data.tokenizer=word", "data.word_split=words", *words_vocab,
                 "model.n_embd=128", "model.n_head=4"]
    out += [Rung(f"{pre}gpt", "GPT 4x128 (BPE)", "text", ["experiment=gpt_wordmix"]),
            Rung(f"{pre}word2vec", "word2vec skip-gram, 128 dims (words)", "text",
                 [*WORD, *words_vocab, "model=word2vec", "model.vector_size=128", "model.epochs=2"]),
            Rung(f"{pre}gpt_words", "GPT (words, 16k vocabulary)", "text", words_gpt),
            Rung(f"{pre}gpt_w2v", "GPT (words, 16k vocabulary), word2vec-initialised", "text", words_gpt,
                 init_from=f"{pre}word2vec"),
            # the hour recipe: the same model, 4.5x the steps (<= 60 CPU minutes), word2vec-initialised
            Rung(f"{pre}gpt_words_hour", "GPT 4x128 (words, 16k vocabulary), word2vec-initialised, 3,600 steps",
                 "text", ["experiment=gpt_wordmix_words"], init_from=f"{pre}word2vec")]
    return out


def short(key: str) -> str:
    """'ladder/wordmix_kn5_bpe' -> 'kn5_bpe' (the rung without its ladder and corpus prefix)."""
    return key.split("/")[-1].split("_", 1)[-1]


def split_text(state: dict, data_root: str, split: str) -> str:
    dc = build(DataConfig, dict(state["config"]["data"]), "data")
    return load_splits(dc, Path(data_root).expanduser() / "raw")[split]


def word_events(text: str) -> int:
    """Whitespace words plus one end of line per line: the word perplexity's event count."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return sum(len(ln.split()) for ln in lines) + len(lines)


def fit_speller(train_text: str, order: int = 5):
    """(char n-gram, char tokenizer) over the hapax legomena of `train_text`, one word per line."""
    counts = Counter(train_text.split())
    hapax = sorted(w for w, c in counts.items() if c == 1) or sorted(counts)
    # the alphabet: the training text's characters and printable ASCII (Kneser-Ney's uniform floor
    # gives the unseen ones their share)
    tok = CharTokenizer.fit([train_text + string.printable])
    return fit_text("\n".join(hapax), tok, order=order), tok


def spell_nats(speller, words: list[str]) -> np.ndarray:
    """-ln p_spell(word + </s>) per word. A word with a character outside the speller's alphabet
    is charged 8 bits per UTF-8 byte plus one byte for its end instead (a uniform byte code)."""
    model, tok = speller
    known = set(tok.itos) if hasattr(tok, "itos") else None
    inside = [known is None or set(w) <= known for w in words]
    spelt = [w for w, ok in zip(words, inside) if ok]
    out = np.array([(len(w.encode("utf-8")) + 1) * math.log(256) for w in words], np.float64)
    if spelt:
        lp = np.asarray(score_lines(model, [np.asarray(tok.encode(w), np.int64) for w in spelt]), np.float64)
        ends = np.cumsum([len(w) + 1 for w in spelt])          # each word's letters then its </s>
        out[np.flatnonzero(inside)] = -np.add.reduceat(lp, np.r_[0, ends[:-1]]) * math.log(10)
    return out


def word_ngram_nats(model, tok, text: str, speller) -> dict:
    """Total nats of `text` under a word n-gram, every line with its </s>, OOV words spelled out."""
    lines = text_lines(text)
    words = [tok.tokenize(ln, tok.split, tok.lowercase) for ln in lines]
    ids = [np.asarray([tok.stoi.get(w, tok.unk_id) for w in ws], np.int64) for ws in words]
    lp, targets = score_lines(model, ids, return_targets=True)
    flat = [w for ws in words for w in [*ws, None]]           # aligned with the targets: words, then </s>
    _, _, unk = model._specials()
    oov = np.flatnonzero(targets == unk)
    spelled = spell_nats(speller, [flat[i] for i in oov])
    unk_nats = -float(lp.sum()) * math.log(10)
    return {"nats": unk_nats + float(spelled.sum()), "nats_unk_cheap": unk_nats, "oov": len(oov),
            "spell_bits_per_oov": float(spelled.mean() / math.log(2)) if len(oov) else 0.0}


def finish(row: dict, nats: float, text: str) -> dict:
    """bits per byte and word perplexity from the total nats of `text`."""
    nbytes = len(text.encode("utf-8"))
    row["bits_per_byte"] = nats / math.log(2) / nbytes
    row["bytes"], row["words"] = nbytes, word_events(text)
    row["word_ppl"] = math.exp(nats / row["words"])
    return row


def score_text_rung(rung: Rung, row: dict, data_root: str, cache: dict) -> dict:
    """Add bits per byte (and word perplexity) to an evaluated text rung's row."""
    ckpt = Path(row["ckpt"])
    model, tok, state = load_model(ckpt)
    split = row.get("split", "test")
    network = isinstance(model, torch.nn.Module)   # a GPT reading fixed windows, not a count model
    if tok.kind == "word" and not network:   # a word n-gram: score lines, spell out its <unk>s
        text = split_text(state, data_root, split)
        if rung.evaluate.get("max_tokens"):
            text = text[: text.rfind("\n", 0, int(rung.evaluate["max_tokens"] * 6)) + 1]
        if "speller" not in cache:
            cache["speller"] = fit_speller(split_text(state, data_root, "train"))
        r = word_ngram_nats(model, tok, text, cache["speller"])
        finish(row, r["nats"], text)
        row["bits_per_byte_unk_cheap"] = r["nats_unk_cheap"] / math.log(2) / row["bytes"]
        row.update(oov=r["oov"], spell_bits_per_oov=r["spell_bits_per_oov"])
    elif tok.kind != "word":
        # open vocabulary: the evaluated figure is already every byte's (bpc over characters -> bytes)
        text = split_text(state, data_root, split)
        chars = row["chars"]
        finish(row, row["bpc"] * chars * math.log(2) * len(text) / max(1, len(text.encode("utf-8"))), text[:chars]
               if rung.evaluate.get("max_tokens") else text)
    else:   # a word-level GPT: add the spelling of each <unk>
        row.update(gpt_words_nats(model, tok, state, row, data_root, rung, cache))
    return row


def gpt_words_nats(model, tok, state, row, data_root, rung, cache) -> dict:
    """A word-level GPT's row in bits per byte: its token nats + the spelling of each <unk> target."""
    dc = build(DataConfig, dict(state["config"]["data"]), "data")
    data = prepare(dc, data_root, verbose=False)
    toks = np.asarray(data.tokens(row["split"]))[: (row["tokens"] + 1)]
    text = split_text(state, data_root, row["split"])
    words = tok.tokenize(text, tok.split, tok.lowercase)
    nl = tok.stoi.get("\n")
    words = [w for w in words if tok.stoi.get(w) != nl or nl is None]   # the stream's words, no line breaks
    if "speller" not in cache:
        cache["speller"] = fit_speller(split_text(state, data_root, "train"))
    it = iter(w for w in words if w not in tok.stoi)
    unk_words = [next(it, "") for t in toks[1:] if t == tok.unk_id]
    nats = row["bits_per_token"] * math.log(2) * row["tokens"] + float(spell_nats(cache["speller"], unk_words).sum())
    share = text[: int(len(text) * row["tokens"] / max(1, len(np.asarray(data.tokens(row["split"]))) - 1))]
    out = finish({}, nats, share if rung.evaluate.get("max_tokens") else text)
    # the same model scoring <unk> as one word (the word n-grams' column): its token nats alone
    out["bits_per_byte_unk_cheap"] = row["bits_per_token"] * row["tokens"] / out["bytes"]
    out["oov"] = len(unk_words)
    return out


def hybrid_rows(rows: list[dict], data_root: str, quick: bool, log=print, pick=None) -> list[dict]:
    """GPT + KN-5 and GPT + ∞-gram (issue 30's hybrids, λ tuned on valid) and the count-only
    ∞-gram + KN-5, all on the BPE pieces, from the trained rungs' checkpoints (`pick`: only the
    hybrids named there, e.g. gpt+infgram)."""
    by = {short(r["key"]): r for r in rows if r.get("corpus") == "text"}
    gpt, inf, kn = by.get("gpt"), by.get("infgram"), by.get("kn5_bpe")
    out = []
    few = {"max_tokens": 20000} if quick else {}
    wanted = (lambda name: pick is None or name in pick)   # noqa: E731
    if inf and kn and wanted("infgram+kn5_bpe"):
        out.append(count_hybrid(inf, kn, data_root, few.get("max_tokens")))
    # (row suffix, partner row, evaluate.py key, its result prefix, label); one evaluate run per hybrid
    for suffix, other, arg, pre, partner in (("infgram", inf, "infgram", "hybrid", "∞-gram"),
                                             ("kn5", kn, "kn", "kn_hybrid", "KN-5 (BPE)")):
        if not (gpt and "bits_per_byte" in gpt and other and wanted(f"gpt+{suffix}")):
            continue
        r = evaluate({"ckpt": gpt["ckpt"], "data_root": data_root, **few, arg: other["ckpt"]})
        # the GPT's own figure from the same windows: evaluate's bits per token of the split (ln of its ppl)
        gpt_nats = gpt["bits_per_token"] * math.log(2)
        row = {"key": f"{gpt['key']}+{suffix}", "label": f"{gpt['label']} + {partner}",
               "corpus": "text", "hybrid": True, "train_seconds": _add(gpt, other, "train_seconds"),
               "cpu_seconds": _add(gpt, other, "cpu_seconds"), "lambda": r.get(f"{pre}/lambda"),
               "bits_per_byte": gpt["bits_per_byte"] * math.log(r[f"{pre}/ppl"]) / gpt_nats,
               "ppl_reduction": r.get(f"{pre}/ppl_reduction"),
               "command": f"python scripts/evaluate.py ckpt={gpt['ckpt']} {arg}={other['ckpt']}"}
        if f"{pre}/bits_per_byte" in r:   # the ∞-gram hybrid also counts its bytes itself
            row["infgram_nonzero"] = r.get(f"{pre}/infgram_nonzero")
            row["bits_per_byte_direct"] = r[f"{pre}/bits_per_byte"]
        row["word_ppl"] = 2 ** (row["bits_per_byte"] * gpt["bytes"] / gpt["words"])
        out.append(row)
        log(f"[ladder] {row['label']}: {row['bits_per_byte']:.4f} bits per byte")
    return out


def _add(a: dict, b: dict, k: str):
    return (a.get(k) or 0) + (b.get(k) or 0) if (a.get(k) is not None or b.get(k) is not None) else None


def count_hybrid(inf: dict, kn: dict, data_root: str, max_tokens: int | None) -> dict:
    """∞-gram + KN-5 on the same pieces: counts only, λ per (effective n, sparse) bucket tuned on valid,
    as the GPT + ∞-gram hybrid does it (seqgen/app/infgram_eval.py)."""
    eng = load_engine(inf["ckpt"])
    ngram, tok, state = load_model(kn["ckpt"])
    data = prepare(build(DataConfig, dict(state["config"]["data"]), "data"), data_root, verbose=False)
    nl = tok.encode("\n")[0]

    def streams(split):
        toks = np.asarray(data.tokens(split)[: (max_tokens + 1) if max_tokens else None], np.int64)
        lp = infgram_eval.ngram_stream_logprobs(ngram, toks, nl)
        ids = np.concatenate([[eng.eos_token_id], toks]) if eng.eos_token_id is not None else toks
        r = eng.score(ids)
        sl = slice(1 if eng.eos_token_id is not None else 0, None)
        p, s, sp = r["prob"][sl][: len(lp)], r["suffix_len"][sl][: len(lp)], r["sparse"][sl][: len(lp)]
        return lp, p, infgram_eval._bucket(s, sp)

    lam = infgram_eval.tune(*streams("valid"))
    lp, p_inf, bucket = streams(kn["split"])
    g = np.array([lam.get(int(b), 0.0) for b in bucket])
    mix = np.log(g * p_inf + (1 - g) * np.exp(lp))
    ratio = mix.sum() / lp.sum()                              # the same tokens as the KN-5 row scored
    row = {"key": inf["key"] + "+kn5_bpe", "label": "∞-gram + KN-5 (BPE pieces, counts only)", "corpus": "text",
           "hybrid": True, "baseline": True, "train_seconds": _add(inf, kn, "train_seconds"),
           "cpu_seconds": _add(inf, kn, "cpu_seconds"),
           "bits_per_byte": kn["bits_per_byte"] * ratio, "lambda": {str(k): v for k, v in sorted(lam.items())},
           "command": "(scored by the ladder from the two rungs above)"}
    row["word_ppl"] = 2 ** (row["bits_per_byte"] * kn["bytes"] / kn["words"])
    return row
