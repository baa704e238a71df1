"""The CUDA paths the CPU suite cannot reach (`pytest -m gpu`; all skip without CUDA): bf16 autocast by
default, fused AdamW, flash SDPA on our attention layout, a compiled training step, visual prompting's
KV cache on the GPU, and a 2-rank nccl DDP run (two GPUs). scripts/gpu_check.sh runs these first."""

import pytest
import torch

from seqgen.core.optim import OptimConfig, build_optimizer
from seqgen.core.precision import resolve_precision
from seqgen.families import build_model
from tests.conftest import compose, run_script, tiny_overrides

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
CUDA = torch.device("cuda")


def gpt(**kw):
    torch.manual_seed(0)
    # head size 32: within what the flash kernel takes (a multiple of 8, at most 256)
    params = dict(block_size=64, n_layer=2, n_head=2, n_embd=64, dropout=0.0, rope=True, **kw)
    return build_model("gpt", params, vocab_size=65).to(CUDA)


def test_auto_precision_is_bf16_and_adamw_is_fused():
    assert resolve_precision("auto", CUDA) == torch.bfloat16
    model = gpt()
    opt = build_optimizer(model, OptimConfig(), CUDA)
    assert opt.defaults["fused"] is True
    x = torch.randint(0, 65, (4, 65), device=CUDA)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, _ = model.training_loss((x[:, :-1], x[:, 1:]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_flash_sdpa_runs_our_attention_and_matches_the_math_kernel():
    """The flash kernel alone (an error if it cannot take our q, k, v) against the reference kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = gpt().train()
    x = torch.randint(0, 65, (4, 64), device=CUDA)
    out = {}
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.MATH):
        model.zero_grad()
        with sdpa_kernel(backend), torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(x)
        logits.float().square().mean().backward()
        out[backend] = (logits.float(), model.lm_head.weight.grad.clone())
    (a, ga), (b, gb) = out.values()
    assert (a - b).abs().max() < 5e-2 and torch.allclose(ga, gb, rtol=0.1, atol=1e-3)


def test_compiled_training_step_matches_eager(tmp_path, corpus):
    from seqgen.app.train import train

    losses = {}
    for compiled in (False, True):
        res = train(compose(tiny_overrides(tmp_path / str(compiled), corpus, "trainer.device=cuda",
                                           f"trainer.compile={str(compiled).lower()}", "trainer.max_steps=8")))
        losses[compiled] = res["metrics"]["val/loss"]
        assert next(res["model"].parameters()).is_cuda
    assert abs(losses[True] - losses[False]) < 0.05, losses


def test_visual_prompt_answers_on_cuda_cache_equals_recompute():
    from seqgen.data.images.visual import VisualConfig, make_split
    from seqgen.families.visual_prompt.generate import complete
    from seqgen.families.visual_prompt.task import build_model as build_vp

    cfg = VisualConfig(n_valid=8, n_test=2)
    torch.manual_seed(0)
    m, _ = build_vp(dict(n_layer=2, n_head=2, n_embd=32, patch=4, head="pixels", rope=True), cfg, CUDA)
    x = torch.from_numpy(make_split(cfg, "test", 2).images).long().flatten(2).to(CUDA)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        a = complete(m.eval(), x, "sentence", 0.0)
        b = complete(m, x, "sentence", 0.0, use_cache=False)
    assert a.is_cuda and a.shape == (2, 256) and (a == b).float().mean() > 0.99   # bf16: ties may flip


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs (NCCL takes one rank per GPU)")
def test_two_rank_nccl_ddp_trains_and_resumes(tmp_path, corpus):
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    over = tiny_overrides(tmp_path, corpus, "trainer.device=cuda")
    res = run_script([*torchrun, "scripts/train.py", *over], timeout=300)
    assert "step 8/8" in res.stdout
    res = run_script([*torchrun, "scripts/train.py", *over, "trainer.max_steps=12"], timeout=300)
    assert "resuming from" in res.stdout
