"""Logit filters and sample_next."""

import torch

from seqgen.nn.sampling import sample_next, top_k_filter, top_p_filter


def test_top_k_keeps_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0]])
    out = top_k_filter(logits, 2)
    assert torch.isinf(out[0, [0, 2]]).all() and torch.equal(out[0, [1, 3]], logits[0, [1, 3]])


def test_top_p_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = top_p_filter(probs.log(), 0.7)
    assert torch.isfinite(out[0, :2]).all() and torch.isinf(out[0, 2:]).all()
    # the top token always survives, even for tiny p
    assert torch.isfinite(top_p_filter(probs.log(), 0.01)[0, 0])


def test_greedy_and_seeded():
    logits = torch.randn(3, 20)
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(-1, keepdim=True))
    a = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(1))
    b = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (3, 1)


def test_top_k_one_is_greedy():
    logits = torch.randn(5, 30)
    s = sample_next(logits, 1.0, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, logits.argmax(-1, keepdim=True))
