"""data=tokens: nanoGPT's raw uint16 .bin and modded-nanogpt's FineWeb shards load, train a few steps,
and every bad file is one clear error with nothing half-written left."""

import json

import numpy as np
import pytest
import torch

from seqgen.core.errors import DataError
from seqgen.core.schema import build
from seqgen.data.prepare import DataConfig, prepare, prepared_dir
from seqgen.data.tokens import HEADER_INTS, MAGIC

V = 97


def nanogpt_bin(path, ids):
    np.asarray(ids, np.uint16).tofile(path)
    return str(path)


def fineweb_shard(path, ids, magic=MAGIC, count=None):
    header = np.zeros(HEADER_INTS, np.int32)
    header[:3] = magic, 1, len(ids) if count is None else count
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(ids, np.uint16).tobytes())
    return str(path)


def ids(n, seed):
    rng = np.random.default_rng(seed)   # a learnable stream: mostly i -> i + 1 (mod V)
    x = np.cumsum(rng.choice([1, 1, 1, 2], n)) % V
    return x.astype(np.uint16)


def cfg(**kw):
    return build(DataConfig, {"name": "tokens", **kw}, "data")


def test_nanogpt_bins(tmp_path):
    train, val = ids(5000, 0), ids(800, 1)
    c = cfg(train=nanogpt_bin(tmp_path / "train.bin", train), valid=nanogpt_bin(tmp_path / "val.bin", val),
            vocab_size=V)
    data = prepare(c, tmp_path / "d", verbose=False)
    assert data.dir == prepared_dir(c, tmp_path / "d") and data.tokenizer.vocab_size == V
    assert np.array_equal(data.tokens("train"), train) and np.array_equal(data.tokens("valid"), val)
    assert data.meta["dtype"] == "uint16" and data.meta["tokens"] == {"train": 5000, "valid": 800, "test": 0}
    assert data.tokenizer.decode([3, 4]) == "3 4" and data.tokenizer.encode("3 4") == [3, 4]


def test_fineweb_shards_glob_and_carved_valid(tmp_path):
    a, b = ids(3000, 0), ids(2000, 1)
    fineweb_shard(tmp_path / "fineweb_train_000001.bin", a)
    fineweb_shard(tmp_path / "fineweb_train_000002.bin", b)
    data = prepare(cfg(train=str(tmp_path / "fineweb_train_*.bin"), vocab_size=V, valid_frac=0.1),
                   tmp_path / "d", verbose=False)
    both = np.concatenate([a, b])
    assert np.array_equal(data.tokens("train"), both[:4500]) and np.array_equal(data.tokens("valid"), both[4500:])


@pytest.mark.parametrize("make,kw,match", [
    (lambda p: fineweb_shard(p, ids(100, 0), magic=12345), {"token_format": "fineweb"},
     "not a modded-nanogpt FineWeb shard \\(magic number 12345, expected 20240520\\)"),
    (lambda p: fineweb_shard(p, ids(100, 0), count=150), {}, "the header says 150 tokens"),
    (lambda p: p.write_bytes(b"\x01\x00\x02"), {}, "3 bytes is an odd byte count"),
    (lambda p: nanogpt_bin(p, [1, 2, 500, 3]), {}, "token id 500 at position 2 is outside the vocabulary"),
    (lambda p: nanogpt_bin(p, [1, 2, 3]), {"vocab_size": None}, "needs the vocabulary size"),
])
def test_bad_token_files_are_one_clear_line(tmp_path, make, kw, match):
    p = tmp_path / "train.bin"
    make(p)
    with pytest.raises(DataError, match=match) as e:
        prepare(cfg(train=str(p), **{"vocab_size": V, **kw}), tmp_path / "d", verbose=False)
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "d").glob("*/meta.json"))       # nothing a rerun could mistake for done


def test_vocab_from_tokenizer_json_and_train_gpt_tiny(tmp_path):
    from tokenizers import Tokenizer, models

    from seqgen.app.train import train
    from tests.conftest import compose

    vocab = {f"t{i}": i for i in range(V)}
    Tokenizer(models.WordLevel(vocab, unk_token="t0")).save(str(tmp_path / "tokenizer.json"))
    for fmt, name in (("nanogpt", "n"), ("fineweb", "f")):
        write = nanogpt_bin if fmt == "nanogpt" else fineweb_shard
        train_path = write(tmp_path / f"{name}_train.bin", ids(20000, 0))
        val_path = write(tmp_path / f"{name}_val.bin", ids(2000, 1))
        over = ["model=gpt_tiny", "trainer=smoke", "trainer.max_steps=12", "data=tokens", f"data.train={train_path}",
                f"data.valid={val_path}", f"data.tokenizer_json={tmp_path / 'tokenizer.json'}",
                f"out_root={tmp_path / 'out'}", f"data_root={tmp_path / 'data'}", f"run_name={name}"]
        result = train(compose(over))
        assert result["step"] == 12 and result["model"].config.vocab_size == V
        rows = [r for r in (tmp_path / "out" / name / "metrics.jsonl").read_text().splitlines() if "val/loss" in r]
        losses = [json.loads(r)["val/loss"] for r in rows]
        assert losses[-1] < losses[0] < np.log(V) + 0.1, losses          # learning from the first steps
    assert torch.load(result["checkpoint"], weights_only=True)["step"] == 12
