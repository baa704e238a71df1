"""Batches gathered from the memmap equal those of the int64-tensor stream they replaced, under the
same seed and after a resume from the old stream's saved state (old checkpoints stay exact)."""

import numpy as np
import pytest
import torch

from seqgen.data.text import FileIds, TextBatches, eval_windows


class OldTextBatches:
    """The pre-memmap stream, verbatim: the whole split copied into an int64 tensor."""

    def __init__(self, tokens, block_size, batch_size, seed):
        self.tokens = torch.from_numpy(np.asarray(tokens).astype(np.int64))
        self.block_size, self.batch_size = block_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        T = self.block_size
        ix = torch.randint(len(self.tokens) - T, (self.batch_size,), generator=self.generator)
        offsets = ix[:, None] + torch.arange(T + 1)[None, :]
        window = self.tokens[offsets]
        return window[:, :-1], window[:, 1:]

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


def old_eval_windows(tokens, block_size, batch_size, max_batches=None):
    data = torch.from_numpy(np.asarray(tokens).astype(np.int64))
    n = len(data) - 1
    starts = list(range(0, n, block_size))
    if max_batches is not None and len(starts) > max_batches * batch_size:
        pick = np.linspace(0, len(starts) - 1, max_batches * batch_size).round().astype(int)
        starts = [starts[i] for i in pick]
    for b in range(0, len(starts), batch_size):
        group = starts[b:b + batch_size]
        lengths = [min(block_size, n - s) for s in group]
        T = max(lengths)
        x = torch.zeros(len(group), T, dtype=torch.int64)
        y = torch.full((len(group), T), -1, dtype=torch.int64)
        for i, (s, L) in enumerate(zip(group, lengths)):
            x[i, :L] = data[s:s + L]
            y[i, :L] = data[s + 1:s + L + 1]
        yield x, y


@pytest.fixture(params=["uint16", "uint32"])
def split_file(tmp_path, request):
    ids = np.random.default_rng(0).integers(0, 2**16 - 1 if request.param == "uint16" else 2**20, 5003)
    path = tmp_path / "train.bin"
    ids.astype(request.param).tofile(path)
    return np.memmap(path, dtype=request.param, mode="r")


def test_memmap_batches_equal_old_batches_and_resume(split_file):
    old, new = OldTextBatches(split_file, 17, 8, seed=1234), TextBatches(split_file, 17, 8, seed=1234)
    # read in place from the file (os.pread per window, no copy and no mapping of the split)
    assert isinstance(new.tokens, FileIds) and new.tokens.path == str(split_file.filename)
    for _ in range(20):
        (xo, yo), (xn, yn) = old.next(), new.next()
        assert xn.dtype == torch.int64 and torch.equal(xo, xn) and torch.equal(yo, yn)
    resumed = TextBatches(split_file, 17, 8, seed=0)
    resumed.load_state_dict(old.state_dict())   # a data_state saved by the old stream in a checkpoint
    for _ in range(5):
        (xo, yo), (xn, yn) = old.next(), resumed.next()
        assert torch.equal(xo, xn) and torch.equal(yo, yn)


@pytest.mark.parametrize("block,batch,max_batches", [(64, 5, None), (100, 3, 4), (7, 64, 2)])
def test_eval_windows_equal_old(split_file, block, batch, max_batches):
    old = list(old_eval_windows(split_file, block, batch, max_batches))
    new = list(eval_windows(split_file, block, batch, max_batches))
    assert len(old) == len(new)
    for (xo, yo), (xn, yn) in zip(old, new):
        assert torch.equal(xo, xn) and torch.equal(yo, yn)


@pytest.mark.slow
def test_checkpoint_of_the_int64_stream_resumes_bit_identically(tmp_path, corpus, monkeypatch):
    """4 steps with the old stream, then 4 more with the memmap one == 8 straight with the old one."""
    import seqgen.families.gpt.task as gpt_task
    from seqgen.app.train import train
    from tests.conftest import compose, tiny_overrides

    common = ["model.dropout=0.1", "optim.decay_steps=8", "optim.warmup_steps=2"]
    monkeypatch.setattr(gpt_task, "TextBatches", OldTextBatches)
    straight = train(compose(tiny_overrides(tmp_path / "a", corpus, *common, "trainer.max_steps=8")))
    train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=4")))
    monkeypatch.setattr(gpt_task, "TextBatches", TextBatches)
    resumed = train(compose(tiny_overrides(tmp_path / "b", corpus, *common, "trainer.max_steps=8")))
    assert resumed["step"] == 8
    a, b = straight["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
