"""Checkpoints holding maps of files larger than memory (the budgeted n-gram's tables): written file to
file (the same zip as torch.save, records and CRCs included), without faulting the map into the
process; and checkpoints past MMAP_BYTES loaded as maps."""

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

import seqgen.core.checkpoint as ckpt
from seqgen.core import streamed_save

ROOT = Path(__file__).resolve().parents[2]


def mapped_state(path: Path, n: int) -> tuple[dict, np.memmap]:
    np.arange(n, dtype=np.int64).tofile(path)
    m = np.memmap(path, dtype=np.int64, mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch warns that the map is read-only: it is only read
        big = torch.from_numpy(m)
    small = torch.linspace(0, 1, 7)
    state = {"format_version": 1, "model_name": "ngram", "model_config": {}, "step": 0,
             "model": {"keys": [torch.arange(5), big], "logp": [small], "view": small[2:]}, "note": "x"}
    return state, m


def test_streamed_save_writes_what_torch_save_writes(tmp_path):
    state, m = mapped_state(tmp_path / "table.bin", 100_000)
    assert streamed_save.needs_streaming(state, min_bytes=1)
    assert not streamed_save.needs_streaming({"model": {"w": torch.ones(100_000)}}, min_bytes=1)
    streamed_save.save(state, tmp_path / "a.pt")
    torch.save(state, tmp_path / "b.pt")
    a, b = zipfile.ZipFile(tmp_path / "a.pt"), zipfile.ZipFile(tmp_path / "b.pt")
    assert a.testzip() is None                                   # every CRC-32 written
    for x, y in zip(a.infolist(), b.infolist(), strict=True):
        if not x.filename.endswith("serialization_id"):        # torch draws a fresh id per save
            assert a.read(x) == b.read(y) and x.CRC == y.CRC, x.filename
    loaded = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(loaded["model"]["keys"][1], torch.from_numpy(np.asarray(m)))
    assert torch.equal(loaded["model"]["view"], state["model"]["logp"][0][2:])


def test_checkpoint_save_streams_maps_and_load_maps_big_files(tmp_path, monkeypatch):
    state, m = mapped_state(tmp_path / "table.bin", 10_000)
    calls = []
    real = streamed_save.save
    monkeypatch.setattr(streamed_save, "save", lambda s, p: calls.append(p) or real(s, p))
    monkeypatch.setattr(streamed_save, "needs_streaming", lambda s: True)
    ckpt.save({k: v for k, v in state.items() if k != "format_version"}, tmp_path / "c.pt")
    assert calls
    monkeypatch.setattr(ckpt, "MMAP_BYTES", 0)                  # every file counts as big: mapped
    loaded = ckpt.load(tmp_path / "c.pt")
    assert torch.equal(loaded["model"]["keys"][1], torch.from_numpy(np.asarray(m)))


CHILD = """
import json, sys, warnings
import numpy as np, torch
from seqgen.core import streamed_save
def peak():
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1]) // 1024
m = np.memmap(sys.argv[1], dtype=np.int64, mode="r")
warnings.simplefilter("ignore")
state = {"model": {"keys": [torch.from_numpy(m)]}}
before = peak()
(streamed_save.save if sys.argv[3] == "streamed" else torch.save)(state, sys.argv[2])
print(json.dumps({"grew_mb": peak() - before}))
"""


def test_streamed_save_keeps_the_map_out_of_memory(tmp_path):
    """A 160 MB mapped table: torch.save faults it all in (RSS grows by its size); the streamed save
    grows by its copy buffers only."""
    np.zeros(20_000_000, np.int64).tofile(tmp_path / "table.bin")
    grew = {}
    for how in ("streamed", "plain"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "table.bin"), str(tmp_path / f"{how}.pt"),
                              how], capture_output=True, text=True, cwd=ROOT, check=True)
        grew[how] = json.loads(out.stdout.splitlines()[-1])["grew_mb"]
    assert grew["plain"] > 120, grew
    assert grew["streamed"] < 60, grew
