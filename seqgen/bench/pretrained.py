"""Loading a pretrained folder (safetensors + JSON) against loading the run's last.pt (torch.load,
weights_only=True), for the same GPT: the raw checkpoint dict, and the model rebuilt ready to sample
(seqgen.app.load.load_model). The last.pt is what the Trainer writes (weights + AdamW moments + RNG).

python scripts/bench_pretrained.py            # the baby GPT (6 x 384, context 256: 10.7M parameters)
python scripts/bench_pretrained.py --quick    # nanoGPT's CPU recipe size (4 x 128: 0.8M), fewer repeats

Ends with one JSON line: {"bench": "pretrained_load", ...}.
"""

import argparse
import tempfile
from pathlib import Path

import torch

from seqgen.app.load import load_model, load_state
from seqgen.app.pretrained import save_pretrained
from seqgen.bench import emit, machine, record, timeit
from seqgen.core import checkpoint as ckpt
from seqgen.data.tokenizer import CharTokenizer
from seqgen.families.gpt.model import GPT


def make_last_pt(folder: Path, n_layer: int, n_embd: int, n_head: int, block: int) -> Path:
    """A last.pt shaped like the Trainer's: one real AdamW step so the optimizer state is full size."""
    tok = CharTokenizer([chr(32 + i) for i in range(65)])
    torch.manual_seed(0)
    model = GPT(GPT.Config(vocab_size=tok.vocab_size, block_size=block, n_layer=n_layer, n_head=n_head,
                           n_embd=n_embd))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, tok.vocab_size, (2, block))
    model.training_loss((x, x))[0].backward()
    opt.step()
    state = {"model_name": "gpt", "model_config": model.config.__dict__.copy(), "model": model.state_dict(),
             "step": 1, "config": {"model": {"name": "gpt"}}, "tokenizer": tok.to_json(),
             "optimizer": opt.state_dict(), "rng": [{"torch": torch.get_rng_state()}], "train_seconds": 1.0}
    return ckpt.save(state, folder / "last.pt")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None, help="timed loads of each kind (default 15, quick 5)")
    return ap


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    size = (4, 128, 4, 64) if args.quick else (6, 384, 6, 256)
    repeats = args.repeats or (5 if args.quick else 15)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        last = make_last_pt(tmp, *size)
        folder = save_pretrained(last, tmp / "pretrained", evaluate=False)
        out = {"bench": "pretrained_load", "model": "gpt %dx%d ctx %d" % (size[0], size[1], size[3]),
               "params": sum(p.numel() for p in load_model(last)[0].parameters()),
               "last_pt_mb": last.stat().st_size / 2**20,
               "safetensors_mb": (folder / "model.safetensors").stat().st_size / 2**20}
        # one untimed load first: the page cache and imports warm for both sides equally
        for key, fn, path in (("state_last_pt_ms", load_state, last), ("state_folder_ms", load_state, folder),
                              ("model_last_pt_ms", load_model, last), ("model_folder_ms", load_model, folder)):
            record(out, key, timeit(lambda: fn(path), repeats, warmup=1), 1e3)
        out.update(repeats=repeats, machine=machine(probe_bf16=False))
    out["model_ratio_folder_over_last_pt"] = out["model_folder_ms"] / out["model_last_pt_ms"]
    for k in ("state_last_pt_ms", "state_folder_ms", "model_last_pt_ms", "model_folder_ms"):
        print(f"{k:>22}  {out[k]:9.2f}")
    emit(out)
    return out


if __name__ == "__main__":
    main()
