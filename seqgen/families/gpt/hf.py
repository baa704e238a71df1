"""The GPT to and from Hugging Face transformers, exactly (same logits to float precision):

    rope=false -> GPT2LMHeadModel: learned positions, pre-norm blocks, exact GELU ("gelu", not GPT-2's
                  "gelu_new" tanh approximation), LayerNorm eps 1e-5, Conv1D weights = our Linear's, transposed
    rope=true  -> GPTNeoXForCausalLM with use_parallel_residual=false (x + attn(ln1 x), then x + mlp(ln2 x)),
                  partial_rotary_factor 1.0 and our theta. Both use rotate_half rotary (cos/sin over the
                  first and second half of each head, apply_rope in seqgen/nn/layers.py), so q and k need
                  no permutation; only the fused qkv rows move: ours are (3, n_head, head) and NeoX's
                  (n_head, 3, head).

Biases: transformers' LayerNorm and MLP always have them; a bias=false GPT exports zeros (exact), and an
import whose biases are all zero comes back as bias=false. The tokenizer goes along as a
PreTrainedTokenizerFast (BPE as is; characters as a WordLevel model over single characters; words as a
WordLevel model over the same regex), and seqgen's own tokenizer JSON beside it (seqgen_tokenizer.json)
so the way back is exact.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from tokenizers import Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from seqgen.core import checkpoint as ckpt
from seqgen.core.errors import ConfigError, DataError
from seqgen.data.tokenizer import _WORD_RE, UNK, Tokenizer
from seqgen.families.gpt.model import GPT

SEQGEN_TOKENIZER = "seqgen_tokenizer.json"


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("format=hf_transformers / hf= need the transformers package: pip install transformers") \
            from None
    if int(transformers.__version__.split(".")[0]) < 5:   # rope_parameters (v4 spelled it rotary_pct / rotary_emb_base)
        raise ConfigError(f"format=hf_transformers / hf= need transformers >= 5 (found {transformers.__version__}): "
                          f"pip install -U transformers")
    return transformers


def _zeros_if_none(sd: dict, key: str, n: int) -> torch.Tensor:
    return sd[key] if key in sd else torch.zeros(n)


def to_hf_state(model: GPT) -> tuple[dict, dict]:
    """(transformers config kwargs, state_dict) of the equivalent GPT-2 / GPT-NeoX model."""
    c, sd = model.config, {k: v.detach().cpu() for k, v in model.state_dict().items()}
    common = dict(vocab_size=c.vocab_size, tie_word_embeddings=c.tie_weights, bos_token_id=None,
                  eos_token_id=None, pad_token_id=None)
    kw, out = _neox_state(c, sd, common) if c.rope else _gpt2_state(c, sd, common)
    if not c.tie_weights:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return kw, out


def _gpt2_state(c, sd: dict, common: dict) -> tuple[dict, dict]:
    """Learned positions: GPT-2 (Conv1D weights are (in, out), so ours are transposed)."""
    C, nh = c.n_embd, c.n_head
    kw = dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], n_positions=c.block_size, n_embd=C,
              n_layer=c.n_layer, n_head=nh, n_inner=4 * C, activation_function="gelu",
              resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout, layer_norm_epsilon=1e-5,
              **common)
    out = {"transformer.wte.weight": sd["wte.weight"], "transformer.wpe.weight": sd["wpe.weight"]}
    for i in range(c.n_layer):
        p, q = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, theirs, n in (("ln1", "ln_1", C), ("ln2", "ln_2", C)):
            out[q + theirs + ".weight"] = sd[p + ours + ".weight"]
            out[q + theirs + ".bias"] = _zeros_if_none(sd, p + ours + ".bias", n)
        for ours, theirs, n in (("attn.qkv", "attn.c_attn", 3 * C), ("attn.proj", "attn.c_proj", C),
                                ("mlp.fc", "mlp.c_fc", 4 * C), ("mlp.proj", "mlp.c_proj", C)):
            out[q + theirs + ".weight"] = sd[p + ours + ".weight"].t().contiguous()   # Conv1D: (in, out)
            out[q + theirs + ".bias"] = _zeros_if_none(sd, p + ours + ".bias", n)
    out["transformer.ln_f.weight"] = sd["ln_f.weight"]
    out["transformer.ln_f.bias"] = _zeros_if_none(sd, "ln_f.bias", C)
    return kw, out


def _neox_state(c, sd: dict, common: dict) -> tuple[dict, dict]:
    """Rotary positions: GPT-NeoX with sequential residuals and full-width rotary."""
    C, nh, hs = c.n_embd, c.n_head, c.n_embd // c.n_head
    kw = dict(model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"], hidden_size=C,
              num_hidden_layers=c.n_layer, num_attention_heads=nh, intermediate_size=4 * C, hidden_act="gelu",
              max_position_embeddings=c.block_size, layer_norm_eps=1e-5, use_parallel_residual=False,
              attention_bias=c.bias, hidden_dropout=c.dropout, attention_dropout=c.dropout,
              rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta, "partial_rotary_factor": 1.0},
              **common)
    out = {"gpt_neox.embed_in.weight": sd["wte.weight"]}
    for i in range(c.n_layer):
        p, q = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        for ours, theirs in (("ln1", "input_layernorm"), ("ln2", "post_attention_layernorm")):
            out[q + theirs + ".weight"] = sd[p + ours + ".weight"]
            out[q + theirs + ".bias"] = _zeros_if_none(sd, p + ours + ".bias", C)
        # fused qkv rows: ours (3, nh, hs), NeoX's (nh, 3, hs)
        w = sd[p + "attn.qkv.weight"].view(3, nh, hs, C).transpose(0, 1).reshape(3 * C, C)
        out[q + "attention.query_key_value.weight"] = w.contiguous()
        out[q + "attention.dense.weight"] = sd[p + "attn.proj.weight"]
        if c.bias:
            out[q + "attention.query_key_value.bias"] = \
                sd[p + "attn.qkv.bias"].view(3, nh, hs).transpose(0, 1).reshape(3 * C).contiguous()
            out[q + "attention.dense.bias"] = sd[p + "attn.proj.bias"]
        out[q + "mlp.dense_h_to_4h.weight"] = sd[p + "mlp.fc.weight"]
        out[q + "mlp.dense_h_to_4h.bias"] = _zeros_if_none(sd, p + "mlp.fc.bias", 4 * C)
        out[q + "mlp.dense_4h_to_h.weight"] = sd[p + "mlp.proj.weight"]
        out[q + "mlp.dense_4h_to_h.bias"] = _zeros_if_none(sd, p + "mlp.proj.bias", C)
    out["gpt_neox.final_layer_norm.weight"] = sd["ln_f.weight"]
    out["gpt_neox.final_layer_norm.bias"] = _zeros_if_none(sd, "ln_f.bias", C)
    return kw, out


def hf_tokenizer(tokenizer):
    """A `tokenizers.Tokenizer` that encodes as ours does (None for a kind it cannot express)."""
    if tokenizer.kind == "bpe":
        return HFTokenizer.from_str(tokenizer.hf.to_str())
    vocab = {s: i for i, s in enumerate(tokenizer.itos)}
    if tokenizer.kind == "char":
        tok = HFTokenizer(models.WordLevel(vocab, unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")   # one token per character
        tok.decoder = decoders.Fuse()                                                       # joined, no spaces
        return tok
    if tokenizer.kind == "word":
        tok = HFTokenizer(models.WordLevel(vocab, unk_token=UNK))
        if tokenizer.split == "whitespace":
            tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        else:
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(_WORD_RE.pattern), behavior="isolated", invert=False)
        return tok    # decoded with spaces between words (ours also drops them before punctuation)
    return None


def export_hf(model: GPT, state: dict, out) -> Path:
    """export.py ckpt=<gpt> format=hf_transformers out=DIR: a folder AutoModelForCausalLM and
    AutoTokenizer load with no seqgen installed."""
    tf = _transformers()

    out = Path(out)
    kw, sd = to_hf_state(model)
    model_type = kw.pop("model_type")
    kw.pop("architectures")
    config = tf.AutoConfig.for_model(model_type, **kw)
    hf = tf.AutoModelForCausalLM.from_config(config)
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_weights)]
    if missing or unexpected:
        raise RuntimeError(f"transformers {model_type} does not match: missing {missing}, unexpected {unexpected}")
    hf.eval().save_pretrained(out)
    if state.get("tokenizer"):
        tok = Tokenizer.from_json(state["tokenizer"])
        (out / SEQGEN_TOKENIZER).write_text(state["tokenizer"], encoding="utf-8")
        core = hf_tokenizer(tok)
        if core is not None:
            fast = tf.PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=model.config.block_size,
                                              clean_up_tokenization_spaces=False)
            fast.save_pretrained(out)
    return out


def _get(sd: dict, key: str, where) -> torch.Tensor:
    if key not in sd:
        raise DataError(f"hf={where}: weight {key!r} is missing from the transformers checkpoint")
    return sd[key].float()


def hf_to_checkpoint(path, out) -> Path:
    """export.py hf=DIR format=checkpoint out=FILE: a transformers GPT-2 or GPT-NeoX folder (one this
    module wrote, or any whose architecture seqgen's GPT represents exactly) as a seqgen checkpoint."""
    tf = _transformers()

    path = Path(path)
    if not (path / "config.json").is_file():
        raise DataError(f"hf={path}: no config.json (expected a transformers model folder)")
    config = tf.AutoConfig.from_pretrained(path)
    try:
        sd = tf.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).state_dict()
    except pickle.UnpicklingError as e:   # transformers reads .bin weights with weights_only=True: nothing ran
        what = "holds code (a pickled call) and was refused without running it" if "GLOBAL" in str(e) else \
            "cannot be read as weights only"
        raise DataError(f"hf={path}: its pytorch_model.bin {what}; seqgen never loads a pickle unsafely: use a "
                        f"folder with model.safetensors") from None
    if config.model_type == "gpt2":
        mc, ours = _from_gpt2(config, sd, path)
    elif config.model_type == "gpt_neox":
        mc, ours = _from_neox(config, sd, path)
    else:
        raise DataError(f"hf={path}: model_type {config.model_type!r}; seqgen imports gpt2 and gpt_neox (the GPT's "
                        f"two exact forms)")
    model = _filled_gpt(mc, ours, sd.get("lm_head.weight"), config, path)
    return ckpt.save({"model_name": "gpt", "model_config": model.config.__dict__.copy(), "model": model.state_dict(),
                      "tokenizer": _tokenizer_json(path), "step": 0, "metrics": {},
                      "config": {"source": str(path), "model": {"name": "gpt", **mc}}}, out)


def _need(ok: bool, what: str, config, path) -> None:
    if not ok:
        raise DataError(f"hf={path}: a {config.model_type} model with {what} has no exact seqgen GPT equivalent")


def _from_gpt2(config, sd: dict, path) -> tuple[dict, dict]:
    """(model_config, our state_dict) of a transformers GPT-2, refused where it differs from our GPT."""
    C, L = config.n_embd, config.n_layer
    _need(config.activation_function == "gelu", f"activation {config.activation_function!r} (not exact gelu)",
          config, path)
    _need((config.n_inner or 4 * C) == 4 * C, "an MLP width other than 4 x n_embd", config, path)
    _need(abs(config.layer_norm_epsilon - 1e-5) < 1e-12, f"layer_norm_epsilon {config.layer_norm_epsilon}", config,
          path)
    _need(not config.scale_attn_by_inverse_layer_idx, "scale_attn_by_inverse_layer_idx", config, path)
    mc = dict(vocab_size=config.vocab_size, block_size=config.n_positions, n_layer=L, n_head=config.n_head,
              n_embd=C, rope=False)
    ours = {"wte.weight": _get(sd, "transformer.wte.weight", path),
            "wpe.weight": _get(sd, "transformer.wpe.weight", path)}
    for i in range(L):
        p, q = f"blocks.{i}.", f"transformer.h.{i}."
        for a, b in (("ln1", "ln_1"), ("ln2", "ln_2")):
            ours[p + a + ".weight"], ours[p + a + ".bias"] = _get(sd, q + b + ".weight", path), \
                _get(sd, q + b + ".bias", path)
        for a, b in (("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"), ("mlp.fc", "mlp.c_fc"),
                     ("mlp.proj", "mlp.c_proj")):
            ours[p + a + ".weight"] = _get(sd, q + b + ".weight", path).t().contiguous()
            ours[p + a + ".bias"] = _get(sd, q + b + ".bias", path)
    ours["ln_f.weight"], ours["ln_f.bias"] = _get(sd, "transformer.ln_f.weight", path), \
        _get(sd, "transformer.ln_f.bias", path)
    return mc, ours


def _from_neox(config, sd: dict, path) -> tuple[dict, dict]:
    """(model_config, our state_dict) of a transformers GPT-NeoX, refused where it differs from our GPT."""
    C, L, nh = config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    hs, rp = C // nh, dict(config.rope_parameters or {})
    for ok, what in ((not config.use_parallel_residual, "use_parallel_residual=true"),
                     (rp.get("partial_rotary_factor", 1.0) == 1.0,
                      f"partial_rotary_factor {rp.get('partial_rotary_factor')}"),
                     (rp.get("rope_type", "default") == "default", f"rope_type {rp.get('rope_type')!r}"),
                     (config.hidden_act == "gelu", f"hidden_act {config.hidden_act!r}"),
                     (config.intermediate_size == 4 * C, "an MLP width other than 4 x hidden_size"),
                     (abs(config.layer_norm_eps - 1e-5) < 1e-12, f"layer_norm_eps {config.layer_norm_eps}")):
        _need(ok, what, config, path)
    mc = dict(vocab_size=config.vocab_size, block_size=config.max_position_embeddings, n_layer=L, n_head=nh,
              n_embd=C, rope=True, rope_theta=float(rp.get("rope_theta", 10000.0)))
    ours = {"wte.weight": _get(sd, "gpt_neox.embed_in.weight", path)}
    for i in range(L):
        p, q = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        for a, b in (("ln1", "input_layernorm"), ("ln2", "post_attention_layernorm")):
            ours[p + a + ".weight"], ours[p + a + ".bias"] = _get(sd, q + b + ".weight", path), \
                _get(sd, q + b + ".bias", path)
        w = _get(sd, q + "attention.query_key_value.weight", path)
        ours[p + "attn.qkv.weight"] = w.view(nh, 3, hs, C).transpose(0, 1).reshape(3 * C, C).contiguous()
        ours[p + "attn.proj.weight"] = _get(sd, q + "attention.dense.weight", path)
        if q + "attention.query_key_value.bias" in sd:
            b = _get(sd, q + "attention.query_key_value.bias", path)
            ours[p + "attn.qkv.bias"] = b.view(nh, 3, hs).transpose(0, 1).reshape(3 * C).contiguous()
            ours[p + "attn.proj.bias"] = _get(sd, q + "attention.dense.bias", path)
        else:
            ours[p + "attn.qkv.bias"], ours[p + "attn.proj.bias"] = torch.zeros(3 * C), torch.zeros(C)
        for a, b in (("mlp.fc", "mlp.dense_h_to_4h"), ("mlp.proj", "mlp.dense_4h_to_h")):
            ours[p + a + ".weight"], ours[p + a + ".bias"] = _get(sd, q + b + ".weight", path), \
                _get(sd, q + b + ".bias", path)
    ours["ln_f.weight"], ours["ln_f.bias"] = _get(sd, "gpt_neox.final_layer_norm.weight", path), \
        _get(sd, "gpt_neox.final_layer_norm.bias", path)
    return mc, ours


def _filled_gpt(mc: dict, ours: dict, head, config, path) -> GPT:
    """Our GPT with the converted weights: tied when the head is the embedding, bias-free when every
    bias is zero (mc gains tie_weights and bias)."""
    tied = bool(getattr(config, "tie_word_embeddings", False)) or head is None or torch.equal(head, ours["wte.weight"])
    mc["tie_weights"] = tied
    if not tied:
        ours["lm_head.weight"] = head.float()
    biases = [v for k, v in ours.items() if k.endswith(".bias")]
    mc["bias"] = any(bool(b.any()) for b in biases)
    if not mc["bias"]:      # all zero: the bias-free model computes the same
        ours = {k: v for k, v in ours.items() if not k.endswith(".bias")}
    model = GPT(GPT.Config(**mc))
    missing, unexpected = model.load_state_dict(ours, strict=False)   # lm_head is wte itself when tied
    missing = [k for k in missing if not (k == "lm_head.weight" and tied)]
    if missing or unexpected:
        raise DataError(f"hf={path}: the weights do not fill a seqgen GPT (missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]})")
    return model


def _tokenizer_json(path: Path) -> str:
    """The tokenizer beside a transformers folder as seqgen's JSON ("" when there is none)."""
    tok = path / SEQGEN_TOKENIZER
    if tok.is_file():
        return tok.read_text(encoding="utf-8")
    if (path / "tokenizer.json").is_file():     # any transformers tokenizer: wrapped as seqgen's BPE kind
        return json.dumps({"kind": "bpe", "hf": (path / "tokenizer.json").read_text(encoding="utf-8")})
    return ""
