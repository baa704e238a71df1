"""word2vec's PyTorch path (`model.backend=torch`): the CUDA trainer, and the reference the compiled
kernels are tested against.

gensim's recipe, vectorised: instead of one pair at a time, the examples of a whole ~1M-word chunk
are generated with array operations, then updated in mini-batches with index_add_ (which sums the
updates of repeated words within a batch, as Hogwild threads would interleave them). Everything that
does not depend on the vectors (targets, negatives, Huffman paths, inputs) is drawn for the chunk
first, so the mini-batch loop is gathers, small bmm and index_add_.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch


@dataclass
class Head:
    """One output layer of the examples: rows (n, M) of W to score against each example's input,
    label (n, M) or (1, M) (1 = the target side), keep (n, M) (0 = not an output of that example)."""
    W: torch.Tensor
    rows: torch.Tensor
    label: torch.Tensor
    keep: torch.Tensor

    def at(self, s: int, B: int):
        label = self.label if self.label.shape[0] == 1 else self.label[s:s + B]
        return self.rows[s:s + B], label, self.keep[s:s + B]


def pairs(line_ids: torch.Tensor, window: int, g: torch.Generator, cbow: bool):
    """Training examples over the kept words of a chunk (positions into it).

    Skip-gram: (centre, context) position pairs within each centre's dynamic window, same line only.
    CBOW: centres and a (n, 2*window) matrix of context positions (-1 = none).
    """
    n = len(line_ids)
    eff = window - torch.randint(0, window, (n,), generator=g)  # each centre's window in 1..window
    pos = torch.arange(n)
    if cbow:
        cols = []
        for d in list(range(-window, 0)) + list(range(1, window + 1)):
            j = pos + d
            ok = (j >= 0) & (j < n) & (abs(d) <= eff)
            ok[ok.clone()] &= line_ids[j[ok]] == line_ids[pos[ok]]
            cols.append(torch.where(ok, j, torch.full_like(j, -1)))
        ctx = torch.stack(cols, 1)
        has = (ctx >= 0).any(1)
        return pos[has], ctx[has]
    cs, xs = [], []
    for d in range(1, window + 1):
        for sign in (1, -1):
            j = pos + sign * d
            ok = (j >= 0) & (j < n) & (d <= eff)
            ok[ok.clone()] &= line_ids[j[ok]] == line_ids[pos[ok]]
            cs.append(pos[ok])
            xs.append(j[ok])
    centers, contexts = torch.cat(cs), torch.cat(xs)
    # order by centre so the learning-rate decay and updates follow the text, as in gensim
    order = torch.argsort(centers, stable=True)
    return centers[order], contexts[order]


def examples(model, words, centers, contexts, noise_table, g):
    """(heads, inputs) of a chunk's examples. inputs: skip-gram (n,) input word ids; CBOW the flat
    (example, word) rows of the real context slots: (ex, word ids, offsets (n + 1,), counts (n,))."""
    c = model.config
    n, K = len(centers), c.negative
    tgt = words[centers]
    heads = []
    if c.hs:   # the inner nodes on each target's Huffman path, labels 1 - code (word2vec.c)
        points, labels, mask = model.huffman_padded()
        heads.append(Head(model.syn1, points[tgt], labels[tgt], mask[tgt]))
    if K:
        negs = noise_table[torch.randint(0, len(noise_table), (n, K), generator=g)]
        label = torch.zeros(1, K + 1)
        label[0, 0] = 1.0
        # a negative that happens to be the target is skipped (gensim does the same)
        keep = torch.cat([torch.ones(n, 1), (negs != tgt[:, None]).float()], 1)
        heads.append(Head(model.syn1neg, torch.cat([tgt[:, None], negs], 1), label, keep))
    if c.sg:
        return heads, words[contexts]
    # CBOW contexts as flat (example, word) rows, only the real ones (~60% of the 2W slots):
    # example e's rows are rows[offsets[e]:offsets[e+1]]
    valid = contexts >= 0                                            # (n, 2W)
    ex, slot = valid.nonzero(as_tuple=True)
    counts = valid.sum(1)
    offsets = torch.zeros(n + 1, dtype=torch.long)
    offsets[1:] = counts.cumsum(0)
    return heads, (ex, words[contexts[ex, slot]], offsets, counts.float().clamp(min=1))


def train_chunk(model, words, centers, contexts, noise_table, g, lr_hi, lr_lo):
    """SGD over the chunk's examples in mini-batches; returns (summed loss, examples).
    Small batches (1024 pairs) keep a frequent word's summed updates close to sequential SGD."""
    c, B, n = model.config, model.batch_size, len(centers)
    heads, inputs = examples(model, words, centers, contexts, noise_table, g)
    dev = model.vectors.device
    if dev.type != "cpu":  # one transfer per chunk; the mini-batch loop then runs on the GPU
        heads = [Head(h.W, h.rows.to(dev), h.label.to(dev), h.keep.to(dev)) for h in heads]
        inputs = inputs.to(dev) if c.sg else tuple(t.to(dev) for t in inputs)
    # Hogwild: threads take interleaved stretches; torch ops release the GIL
    if c.workers > 1 and dev.type == "cpu":
        losses = [0.0] * c.workers
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)

        def work(w):
            losses[w] = sgd(model, heads, inputs, n, lr_hi, lr_lo, range(w * B, n, c.workers * B))

        pool = [threading.Thread(target=work, args=(w,)) for w in range(c.workers)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        torch.set_num_threads(threads_before)
        return sum(losses), n
    return sgd(model, heads, inputs, n, lr_hi, lr_lo, range(0, n, B)), n


def sgd(model, heads, inputs, n, lr_hi, lr_lo, starts) -> float:
    """Mini-batches of B examples from each start: scores against every head's rows from the vectors
    as they are, then one index_add_ per matrix. Returns the summed loss -log s(+-score)."""
    c, B, D = model.config, model.batch_size, model.config.vector_size
    vectors = model.vectors
    loss = torch.zeros((), dtype=torch.float64, device=vectors.device)
    for s in starts:
        lr = lr_hi + (lr_lo - lr_hi) * s / max(1, n)
        if c.sg:
            in_ids = inputs[s:s + B]
            h = vectors[in_ids]                                          # (b, D)
        else:
            ex_all, rows_all, offsets, cnt_all = inputs
            lo, hi = int(offsets[s]), int(offsets[min(s + B, n)])
            ex, rows, cnt = ex_all[lo:hi] - s, rows_all[lo:hi], cnt_all[s:s + B, None]
            h = torch.zeros(len(cnt), D, device=vectors.device).index_add_(0, ex, vectors[rows])
            if c.cbow_mean:
                h = h / cnt
        grad_h = None
        for head in heads:
            out_ids, label, keep = head.at(s, B)
            out = head.W[out_ids]                                        # (b, M, D)
            score = torch.bmm(out, h[:, :, None]).squeeze(2)             # (b, M)
            # -log s(+score) for the target side, -log s(-score) else; float64 so it never saturates
            loss -= (torch.nn.functional.logsigmoid(score * (2 * label - 1)) * keep).sum().double()
            gscale = (label - torch.sigmoid(score)) * keep * lr          # (b, M)
            gh = torch.bmm(gscale[:, None, :], out).squeeze(1)           # (b, D)
            grad_h = gh if grad_h is None else grad_h + gh
            head.W.index_add_(0, out_ids.reshape(-1), (gscale[..., None] * h[:, None, :]).reshape(-1, D))
        if grad_h is None:
            continue
        if c.sg:
            vectors.index_add_(0, in_ids, grad_h)
        else:  # gensim adds the whole error to every context word when averaging
            if not c.cbow_mean:
                grad_h = grad_h / cnt
            vectors.index_add_(0, rows, grad_h[ex])
    return float(loss)
