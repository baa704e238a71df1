"""The query engine over an index folder, with infini-gram's method names and result fields, so code
written for `infini_gram.engine.InfiniGramEngine` ports: count, find, prob, ntd, infgram_prob,
infgram_ntd (with suffix_len), search_docs, get_doc_by_ix.

Differences, on purpose: bad queries raise `QueryError` (infini-gram returns {"error": ...});
`count` / `find` / `search_docs` refuse an empty query (the corpus size is `num_tokens`); counts are
always exact (`approx` is False, `max_support` is accepted and ignored: `ntd` reads one run per distinct
next token, not one pointer per occurrence). The document boundary is a token of the vocabulary (the
newline, `eos_token_id`): in a query it matches a document edge (first: a document start, last: an end;
inside a query it would join two documents, which never matches), and an `ntd` reports a document's
end as that token, as infini-gram reports its separator as eos. The boundary alone counts the documents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgen.core.errors import SeqgenError
from seqgen.families.infgram import kernels as K
from seqgen.families.infgram.index import open_index

_UNBOUNDED = 1 << 30
_I64 = np.dtype(np.int64)
_SEQUENCES = (list, tuple, np.ndarray)


class QueryError(SeqgenError, ValueError):
    """A query the engine cannot answer: empty, not integers, or ids outside the vocabulary."""


class Engine:
    def __init__(self, folder, fences: bool = True):
        """fences=False: search without the fence keys, as an index built before them is (an ablation:
        same answers, more pointer reads)."""
        self.folder = Path(folder)
        self.meta, self.shards = open_index(self.folder)
        if not fences:
            for s in self.shards:
                s.fk = np.zeros(0, np.int64)
        self.vocab_size = int(self.meta["vocab_size"])
        self.sep = int(self.meta["separator"])
        self.eos_token_id = self.meta["boundary"]          # None: documents=none (no boundary token)
        self.num_tokens = sum(len(s.tok) for s in self.shards)
        self.num_docs = sum(len(s.docs) for s in self.shards)
        self._eos = -1 if self.eos_token_id is None else int(self.eos_token_id)
        self._doc_base = np.cumsum([0] + [len(s.docs) for s in self.shards])
        # count()'s fast path: a single shard's kernel arguments, bound once (attribute lookups cost
        # as much as the search itself at ~1 us a query)
        self._one = (*self.shards[0].args, self.vocab_size, self._eos) if len(self.shards) == 1 else None

    # ---- input checks -------------------------------------------------------------------------------
    def _ids(self, ids, what: str, allow_empty: bool) -> np.ndarray:
        """(m,) int64 query with the boundary id mapped to the separator; QueryError when bad."""
        a = np.asarray(ids if not isinstance(ids, (str, bytes)) else [ids])
        if a.size == 0:
            if not allow_empty:
                raise QueryError(f"{what} is empty: give at least one token id (the corpus has "
                                 f"{self.num_tokens:,} tokens, separators included: engine.num_tokens)")
            return np.zeros(0, np.int64)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise QueryError(f"{what} must be a flat list of integer token ids, got {list(a.ravel()[:5])}...")
        q, bad = K.checked(a if a.dtype == np.int64 else a.astype(np.int64), self.vocab_size, self._eos, self.sep)
        if bad >= 0:
            raise QueryError(f"{what} holds id {int(a[bad])}, outside the vocabulary [0, {self.vocab_size}) of this "
                             f"index: encode the text with the run's tokenizer")
        return q

    def _cont(self, cont_id) -> int:
        if not isinstance(cont_id, (int, np.integer)) or not 0 <= int(cont_id) < self.vocab_size:
            raise QueryError(f"cont_id={cont_id!r} must be an integer token id in [0, {self.vocab_size})")
        return self.sep if cont_id == self.eos_token_id else int(cont_id)

    def _out_id(self, t: int) -> int:
        return self.eos_token_id if t == self.sep else t

    # ---- n-gram queries -----------------------------------------------------------------------------
    def find(self, input_ids) -> dict:
        """{"cnt", "segment_by_shard": [(lo, hi)]}: the suffix-array range of the query in each shard."""
        q = self._ids(input_ids, "input_ids", allow_empty=False)
        segs = [tuple(map(int, K.find(*s.args, q))) for s in self.shards]
        return {"cnt": sum(b - a for a, b in segs), "segment_by_shard": segs}

    def count(self, input_ids) -> dict:
        """{"count": occurrences of the token sequence in the corpus, "approx": False}."""
        if self._one is not None and type(input_ids) in _SEQUENCES:   # one compiled call
            a = np.asarray(input_ids)
            if a.dtype is _I64 and a.ndim == 1 and a.size:
                n = K.count_checked(*self._one, a)
                if n >= 0:
                    return {"count": n, "approx": False}
        q = self._ids(input_ids, "input_ids", allow_empty=False)
        n = 0
        for s in self.shards:
            lo, hi = K.find(*s.args, q)
            n += hi - lo
        if len(q) == 1 and q[0] == self.sep:   # the boundary alone: the document ends, not the
            n -= len(self.shards)               # separator opening each shard
        return {"count": int(n), "approx": False}

    def _next(self, q: np.ndarray, ranges) -> tuple[int, dict]:
        """(prompt count, {token: count}) summed over shards for the ranges of q (with a next token)."""
        counts: dict[int, int] = {}
        total = 0
        for s, (lo, hi) in zip(self.shards, ranges):
            if hi <= lo:
                continue
            size = min(hi - lo, self.vocab_size + 1)
            ids, cnts = np.empty(size, np.int64), np.empty(size, np.int64)
            k = K.next_counts(s.tok, s.sa, s.w, lo, hi, len(q), ids, cnts)
            for t, c in zip(ids[:k].tolist(), cnts[:k].tolist()):
                if t == self.sep and self.eos_token_id is None:
                    continue                     # documents=none: the end of the corpus predicts nothing
                counts[t] = counts.get(t, 0) + c
                total += c
        if len(q) == 0 and self.sep in counts:   # the empty context predicts every token but each
            counts[self.sep] -= len(self.shards) # shard's opening separator (nothing precedes it)
            total -= len(self.shards)
            if counts[self.sep] == 0:
                del counts[self.sep]
        return total, counts

    def _ntd(self, q, ranges, suffix_len=None) -> dict:
        total, counts = self._next(q, ranges)
        res = {self._out_id(t): {"cont_cnt": c, "prob": c / total} for t, c in sorted(counts.items())}
        out = {"prompt_cnt": total, "result_by_token_id": res, "approx": False}
        if suffix_len is not None:
            out["suffix_len"] = suffix_len
        return out

    def ntd(self, prompt_ids, max_support=None) -> dict:
        """Next-token distribution after the whole prompt: {"prompt_cnt", "result_by_token_id":
        {id: {"cont_cnt", "prob"}}, "approx"}; an unseen prompt gives prompt_cnt 0 and no tokens."""
        q = self._ids(prompt_ids, "prompt_ids", allow_empty=True)
        return self._ntd(q, [K.find_cont(*s.args, q) for s in self.shards])

    def prob(self, prompt_ids, cont_id) -> dict:
        """{"prompt_cnt", "cont_cnt", "prob"}: the n-gram MLE cont_cnt / prompt_cnt (-1.0 if prompt unseen)."""
        q = self._ids(prompt_ids, "prompt_ids", allow_empty=True)
        qc = np.append(q, self._cont(cont_id))
        pc = cc = 0
        for s in self.shards:
            lo, hi = K.find_cont(*s.args, q)
            pc += hi - lo
            a, b = K.find(*s.args, qc)
            cc += b - a
        if len(q) == 0:                         # as in _next: no shard's opening separator
            pc -= len(self.shards)
            cc -= len(self.shards) if qc[0] == self.sep else 0
        return {"prompt_cnt": int(pc), "cont_cnt": int(cc), "prob": cc / pc if pc else -1.0}

    def longest_suffix(self, q: np.ndarray, max_len: int | None = None, min_count: int = 1):
        """(k, ranges): the longest suffix q[-k:] (k <= max_len) seen at least min_count times with a next
        token across all shards, and its range per shard (empty ranges where a shard lacks it)."""
        max_len = _UNBOUNDED if max_len is None else max_len
        if len(self.shards) == 1:
            s = self.shards[0]
            k, lo, hi = K.longest_suffix(*s.args, q, max_len, max(1, min_count))
            return int(k), [(lo, hi)]
        best, ranges = 0, [(0, len(s.tok)) for s in self.shards]
        for k in range(1, min(len(q), max_len) + 1):   # counts add over shards: sum per length
            rs = [K.find_cont(*s.args, q[len(q) - k:]) for s in self.shards]
            total = sum(b - a for a, b in rs)
            if total == 0 or total < min_count:
                break
            best, ranges = k, rs
        return best, ranges

    def infgram_ntd(self, prompt_ids, max_support=None, max_suffix_len=None, min_count: int = 1) -> dict:
        """ntd after the longest suffix of the prompt that occurs (the ∞-gram), with "suffix_len"."""
        q = self._ids(prompt_ids, "prompt_ids", allow_empty=True)
        k, ranges = self.longest_suffix(q, max_suffix_len, min_count)
        return self._ntd(q[len(q) - k:], ranges, suffix_len=k)

    def infgram_prob(self, prompt_ids, cont_id) -> dict:
        """prob() of cont_id after the longest suffix of the prompt that occurs, with "suffix_len"."""
        q = self._ids(prompt_ids, "prompt_ids", allow_empty=True)
        cont = self._cont(cont_id)
        k, _ = self.longest_suffix(q)
        ids = q[len(q) - k:].tolist()
        out = self.prob([self._out_id(t) for t in ids], self._out_id(cont))
        out["suffix_len"] = k
        return out

    # ---- documents ----------------------------------------------------------------------------------
    def _doc(self, shard: int, pos: int, needle_len: int, max_disp_len: int, d: int | None = None) -> dict:
        """Document d of the shard (default: the one holding position pos), a window around pos."""
        s = self.shards[shard]
        if d is None:
            d = int(np.searchsorted(s.docs, pos, side="right")) - 1
        start = int(s.docs[d]) + 1
        end = int(s.docs[d + 1]) if d + 1 < len(s.docs) else len(s.tok) - 1
        # a window of max_disp_len tokens around the needle
        a = min(pos, max(start, min(pos - (max_disp_len - needle_len) // 2, end - max_disp_len)))
        b = min(end, a + max_disp_len)
        ids = [self._out_id(int(t)) for t in s.tok[a:b]]
        return {"doc_ix": int(self._doc_base[shard] + d), "doc_len": end - start, "disp_len": b - a,
                "needle_offset": pos - a, "metadata": "", "token_ids": ids, "blocked": False,
                "shard": shard, "ptr": pos}

    def search_docs(self, input_ids, maxnum: int = 1, max_disp_len: int = 1000, seed: int = 0) -> dict:
        """Up to maxnum occurrences (drawn at random, seeded) with their documents around them:
        {"cnt", "approx", "idxs" (ranks among all occurrences), "documents": [...]}."""
        if maxnum < 1 or max_disp_len < 1:
            raise QueryError(f"maxnum={maxnum} and max_disp_len={max_disp_len} must be positive")
        q = self._ids(input_ids, "input_ids", allow_empty=False)
        segs = [K.find(*s.args, q) for s in self.shards]
        sizes = np.array([b - a for a, b in segs])
        cnt = int(sizes.sum())
        if cnt == 0:
            return {"cnt": 0, "approx": False, "idxs": [], "documents": []}
        idxs = np.sort(np.random.default_rng(seed).choice(cnt, size=min(maxnum, cnt), replace=False))
        docs, bounds = [], np.cumsum(sizes)
        for r in idxs.tolist():
            sh = int(np.searchsorted(bounds, r, side="right"))
            rank = segs[sh][0] + r - (int(bounds[sh - 1]) if sh else 0)
            s = self.shards[sh]
            docs.append(self._doc(sh, int(K.ptr(s.sa, s.w, rank)), len(q), max_disp_len))
        return {"cnt": cnt, "approx": False, "idxs": idxs.tolist(), "documents": docs}

    def get_doc_by_ix(self, doc_ix: int, max_disp_len: int = 1000) -> dict:
        if not 0 <= doc_ix < self.num_docs:
            raise QueryError(f"doc_ix={doc_ix} is outside [0, {self.num_docs})")
        sh = int(np.searchsorted(self._doc_base, doc_ix, side="right")) - 1
        d = int(doc_ix - self._doc_base[sh])
        return self._doc(sh, int(self.shards[sh].docs[d]) + 1, 0, max_disp_len, d)

    # ---- whole sequences (sampling, scoring, copy rate) ---------------------------------------------
    def match_lengths(self, ids, max_len: int | None = None) -> np.ndarray:
        """(n,) for each token of ids: the longest span ending there that occurs in the corpus."""
        q = self._ids(ids, "ids", allow_empty=True)
        m = _UNBOUNDED if max_len is None else max_len
        out = np.zeros(len(q), np.int64)
        for s in self.shards:
            out = np.maximum(out, K.match_lengths(*s.args, q, m, False))
        return out

    def score(self, ids, max_len: int | None = None) -> dict:
        """For each j < len(ids) - 1, the ∞-gram (max_len: (max_len+1)-gram) estimate of ids[j + 1] after
        ids[:j + 1]: arrays suffix_len, prompt_cnt, cont_cnt, sparse (a single next token seen), prob."""
        q = self._ids(ids, "ids", allow_empty=True)
        m = _UNBOUNDED if max_len is None else max_len
        ks = np.zeros(len(q), np.int64)
        for s in self.shards:
            ks = np.maximum(ks, K.match_lengths(*s.args, q, m, True))
        n = max(len(q) - 1, 0)
        prompt, cont = np.zeros(n, np.int64), np.zeros(n, np.int64)
        first, last = np.full(n, np.iinfo(np.int64).max), np.full(n, -1, np.int64)
        for s in self.shards:
            K.context_counts(*s.args, q, ks, prompt, cont, first, last)
        zero = ks[:n] == 0                      # empty context: as in _next
        prompt[zero] -= len(self.shards)
        cont[zero & (q[1:] == self.sep)] -= len(self.shards)
        prob = np.where(prompt > 0, cont / np.maximum(prompt, 1), 0.0)
        return {"suffix_len": ks[:n], "prompt_cnt": prompt, "cont_cnt": cont, "sparse": first == last,
                "prob": prob}
