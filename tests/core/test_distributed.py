"""DDP through torchrun: 2 gloo processes on the CPU end with identical weights on both ranks."""

import sys

import torch

from tests.conftest import ROOT, run_script, tiny_overrides


def test_two_process_gloo_ddp(tmp_path, corpus):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = tiny_overrides(tmp_path, corpus, "trainer.max_steps=6", "trainer.ckpt_every=3",
                          "trainer.grad_accum=2", "model.dropout=0.1")
    res = run_script([*torchrun[1:], str(ROOT / "tests" / "core" / "ddp_worker.py"), str(tmp_path), *args],
                     env={"OMP_NUM_THREADS": "1"})
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    init = torch.load(tmp_path / "out" / "t" / "checkpoints" / "last.pt", weights_only=True)
    assert len(init["rng"]) == 2 and init["step"] == 6  # both ranks' data streams saved
    assert res.stdout.count("[seqgen] run dir:") == 1  # rank 0 alone logs
