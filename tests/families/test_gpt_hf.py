"""The GPT to and from Hugging Face transformers: GPT-2 (learned positions) and GPT-NeoX (rotary, sequential
residual) give seqgen's logits to 1e-4 and its greedy text; AutoTokenizer encodes as seqgen does; and the
transformers folder comes back as the same seqgen model (scripts/export.py both ways)."""

import pytest
import torch

from seqgen.data.tokenizer import CharTokenizer, fit_tokenizer
from seqgen.families.gpt.generate import sample_text
from seqgen.families.gpt.hf import export_hf, hf_to_checkpoint
from seqgen.families.gpt.model import GPT
from tests.conftest import TINY_TEXT, run_script

transformers = pytest.importorskip("transformers", minversion="5")
CASES = [  # (rope, bias, tie_weights): both architectures, with and without biases / tied heads
    (False, False, True), (False, True, False), (True, False, True), (True, True, False)]


def _model(tok, rope, bias, tie, seed=0):
    torch.manual_seed(seed)
    m = GPT(GPT.Config(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32, rope=rope,
                       bias=bias, tie_weights=tie, rope_theta=5000.0 if rope else 10000.0)).eval()
    with torch.no_grad():    # weights far from init (biases and LayerNorm gains included) so any slip shows
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return m


@pytest.mark.parametrize("rope,bias,tie", CASES)
def test_transformers_logits_and_greedy_text_equal_seqgens(rope, bias, tie, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = CharTokenizer(sorted(set(TINY_TEXT)))
    m = _model(tok, rope, bias, tie)
    export_hf(m, {"tokenizer": tok.to_json()}, tmp_path / "hf")
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == ("GPTNeoXForCausalLM" if rope else "GPT2LMHeadModel")
    x = torch.randint(0, tok.vocab_size, (4, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, m(x), atol=1e-4, rtol=0)
    hf_tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    prompt = "First Citizen:\nBefore"
    assert hf_tok(prompt)["input_ids"] == tok.encode(prompt)
    ids = torch.tensor([tok.encode(prompt)])
    out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False, pad_token_id=0)
    theirs = hf_tok.decode(out[0].tolist())
    ours = sample_text(m, tok, prompt, 12, seed=0, device="cpu", temperature=0.0, top_k=None)
    assert theirs == ours
    # and back: the same seqgen model, bias / tie flags recovered
    from seqgen.app.load import load_model

    hf_to_checkpoint(tmp_path / "hf", tmp_path / "back.pt")
    back, back_tok, state = load_model(tmp_path / "back.pt")
    assert state["model_config"] == m.config.__dict__ and back_tok.to_json() == tok.to_json()
    with torch.no_grad():
        assert torch.equal(back(x), m(x))


def test_bpe_tokenizer_goes_along_as_is(tmp_path):
    from transformers import AutoTokenizer

    tok = fit_tokenizer("bpe", [TINY_TEXT], vocab_size=300)
    m = _model(tok, True, False, True)
    export_hf(m, {"tokenizer": tok.to_json()}, tmp_path / "hf")
    text = "You are all resolved rather to die"
    assert AutoTokenizer.from_pretrained(tmp_path / "hf")(text)["input_ids"] == tok.encode(text)


def test_export_script_both_ways_and_refusals(tmp_path):
    """scripts/export.py format=hf_transformers and hf=DIR format=checkpoint; a transformers model seqgen
    cannot represent exactly (GPT-2's tanh GELU) is refused in one line."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from seqgen.app.load import load_model
    from seqgen.core import checkpoint as ckpt

    tok = CharTokenizer(sorted(set(TINY_TEXT)))
    m = _model(tok, True, False, True)
    path = ckpt.save({"model_name": "gpt", "model_config": m.config.__dict__.copy(), "model": m.state_dict(),
                      "tokenizer": tok.to_json(), "step": 0, "config": {}}, tmp_path / "m.pt")
    run_script(["scripts/export.py", f"ckpt={path}", "format=hf_transformers", f"out={tmp_path / 'hf'}"])
    run_script(["scripts/export.py", f"hf={tmp_path / 'hf'}", "format=checkpoint", f"out={tmp_path / 'back.pt'}"])
    back = load_model(tmp_path / "back.pt")[0]
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), m.state_dict().values()))
    GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=20, n_positions=8)).save_pretrained(
        tmp_path / "gpt2")     # activation_function gelu_new: the tanh approximation
    from seqgen.app.export import export
    from seqgen.core.errors import DataError

    with pytest.raises(DataError, match="activation .gelu_new. .not exact gelu. has no exact seqgen GPT equivalent"):
        export({"hf": str(tmp_path / "gpt2"), "format": "checkpoint", "out": str(tmp_path / "x.pt")})


class _System:
    def __reduce__(self):
        import os

        return (os.system, ("echo this ran while loading > ran.txt",))


def test_a_pickle_payload_as_pytorch_model_bin_is_one_line(tmp_path, monkeypatch):
    """Probe round 3: hf=DIR whose pytorch_model.bin calls os.system ran nothing but ended in torch's
    traceback advising weights_only=False; now one line that says it holds code."""
    from seqgen.core.errors import DataError

    monkeypatch.chdir(tmp_path)
    transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=20, n_positions=8,
                            bos_token_id=0, eos_token_id=0).save_pretrained(tmp_path / "evil")
    torch.save({"x": _System()}, tmp_path / "evil" / "pytorch_model.bin")
    with pytest.raises(DataError, match=r"pytorch_model\.bin holds code .* refused without running it"):
        hf_to_checkpoint(tmp_path / "evil", tmp_path / "evil.pt")
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "evil.pt").exists()
