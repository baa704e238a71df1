"""The README as a test suite: its group tables list exactly what configs/ holds, every fenced `bash`
command parses and validates as written (train.py through Hydra and seqgen's own checks; the other
scripts' keys against the keys they take), and the commands that finish in seconds run end to end
(`-m slow`: the ones on generated data, in a temporary folder, as written)."""

import dataclasses
import importlib
import re
import shlex

import pytest

from seqgen import families
from seqgen.app import cli
from tests.conftest import CONFIGS, ROOT, TINY_TEXT, compose, run_script

README = (ROOT / "README.md").read_text(encoding="utf-8")
# stand-ins for the README's placeholders (a run folder, the reader's files)
PLACEHOLDERS = {"<run>": "ngram_on_text_files", "<w2v run>": "word2vec_shakespeare", "ckpt=...": "ckpt=x.pt"}


def bash_commands() -> list[list[str]]:
    """argv of every command in README's ```bash blocks: continuation lines joined, comments dropped,
    a block's shell variables (CKPT=...) substituted."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        env = {}
        for line in block.replace("\\\n", " ").splitlines():
            for a, b in PLACEHOLDERS.items():
                line = line.replace(a, b)
            argv = shlex.split(line, comments=True)
            if len(argv) == 1 and re.fullmatch(r"[A-Z_]+=\S+", argv[0]):
                k, v = argv[0].split("=", 1)
                env[k] = v
            elif argv:
                out.append([re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), a) for a in argv])
    return out


COMMANDS = bash_commands()


def script_args(argv: list[str], script: str) -> list[str] | None:
    """The arguments after scripts/<script> in a python / torchrun command line, else None."""
    for i, a in enumerate(argv):
        if a == f"scripts/{script}":
            return argv[i + 1:]
    return None


def test_the_readme_has_commands():
    scripts = {a for argv in COMMANDS for a in argv if a.startswith("scripts/")}
    assert len(COMMANDS) > 50 and {"scripts/train.py", "scripts/sample.py", "scripts/evaluate.py",
                                   "scripts/export.py", "scripts/synthesize.py", "scripts/ladder.py"} <= scripts
    for s in scripts:   # every script a command names exists
        assert (ROOT / s).is_file(), s


def test_group_tables_list_exactly_the_config_tree():
    for group in ("model", "data", "optim", "trainer", "logger", "experiment"):
        row = re.search(rf"^\| `{group}` \| (.*?) \|", README, re.M)
        assert row, group
        listed = set(re.findall(r"`([a-z0-9_]+)`", row.group(1)))
        files = {p.stem for p in (CONFIGS / group).glob("*.yaml")}
        assert listed == files, (group, sorted(listed - files), sorted(files - listed))


def _train_args(args: list[str]) -> list[str]:
    if "-m" in args:   # a multirun sweep: compose its first job
        args = [a.split("=", 1)[0] + "=" + a.split("=", 1)[1].split(",")[0] if "=" in a else a
                for a in args if a != "-m"]
    return cli.prepare_argv(cli.TRAIN_GROUPS, ["train.py", *args])[1:]


TRAIN = [a for argv in COMMANDS if (a := script_args(argv, "train.py")) is not None and "--help" not in a]


@pytest.mark.parametrize("args", TRAIN, ids=[" ".join(a)[:60] for a in TRAIN])
def test_every_train_command_composes_and_validates(args):
    from seqgen.app.train import resolve

    spec, fam = resolve(compose(_train_args(args)))
    assert spec.model_name == fam.name


def _fields(*classes) -> set:
    return {f.name for c in classes if c is not None for f in dataclasses.fields(c)}


def _keys(args):
    return {a.split("=", 1)[0] for a in args if "=" in a and not a.startswith("-")}


def test_every_other_command_names_keys_its_script_takes():
    from seqgen.app.evaluate import EvaluateConfig
    from seqgen.app.export import ExportConfig, _importers
    from seqgen.app.pipeline import PipelineArgs
    from seqgen.app.sample import SampleConfig
    from seqgen.texture.run import SynthConfig

    fams = [families.get(n) for n in families.FAMILIES]
    valid = {"sample.py": _fields(SampleConfig, PipelineArgs, *(f.SampleArgs for f in fams)),
             "evaluate.py": _fields(EvaluateConfig, *(f.EvalArgs for f in fams))
             | {f"data.{k}" for k in _fields(*{f.DataConfig for f in fams if f.DataConfig})},   # data.test=...
             "export.py": _fields(ExportConfig) | set(_importers()),
             "synthesize.py": _fields(SynthConfig)}
    seen = set()
    for argv in COMMANDS:
        for script, keys in valid.items():
            args = script_args(argv, script)
            if args is not None:
                seen.add(script)
                assert _keys(args) <= keys, (argv, sorted(_keys(args) - keys))
        args = script_args(argv, "ladder.py")
        if args is not None:   # argparse flags the script declares
            src = (ROOT / "scripts" / "ladder.py").read_text()
            for flag in (a for a in args if a.startswith("--")):
                assert f'"{flag}"' in src, ("ladder.py", flag)
        for script in (a for a in argv if re.fullmatch(r"scripts/bench_\w+\.py", a)):   # flags its bench's parser takes
            flags = importlib.import_module(f"seqgen.bench.{script[len('scripts/bench_'):-3]}").parser()
            for flag in (a.split("=")[0] for a in script_args(argv, script[len("scripts/"):]) if a.startswith("--")):
                assert flag in flags._option_string_actions, (script, flag)
    assert seen == set(valid)


def test_synthesize_commands_validate():
    from seqgen.core.schema import build, to_plain
    from seqgen.texture.run import SynthConfig

    for argv in COMMANDS:
        args = script_args(argv, "synthesize.py")
        if args is not None:
            build(SynthConfig, to_plain(compose(cli.prepare_argv((), ["s.py", *args])[1:], "synthesize")),
                  "synthesize")


# ---- the commands that finish in seconds, run as written ---------------------------------------------

def _run(argv, cwd):
    """One README command line (`python scripts/X.py ...`) in cwd, with this interpreter and checkout."""
    assert argv[0] == "python" and argv[1].startswith("scripts/"), argv
    return run_script([str(ROOT / argv[1]), *argv[2:]], cwd=cwd, timeout=600)


@pytest.mark.slow
def test_video_texture_commands_run_as_written(tmp_path):
    """README's video-texture block on the generated pendulum and sprite (seconds each)."""
    start = next(i for i, a in enumerate(COMMANDS) if a[:3] == ["python", "scripts/train.py", "model=video_texture"])
    block = []
    for argv in COMMANDS[start:]:
        if "data.path=my.mp4" in argv:   # the reader's own clip
            break
        block.append(argv)
    assert len(block) >= 7
    for argv in block:
        _run(argv, tmp_path)
    assert (tmp_path / "pendulum.gif").is_file() and (tmp_path / "loop.gif").is_file()
    assert (tmp_path / "matrix.png").is_file()


@pytest.mark.slow
def test_text_file_commands_run_as_written(tmp_path):
    """README's commands on the reader's own text files (train.txt, corpus.txt, a.txt ...), on a tiny
    corpus; a recipe of thousands of steps gets trainer.max_steps=2."""
    for name in ("train.txt", "valid.txt", "test.txt", "corpus.txt", "a.txt", "b.txt"):
        (tmp_path / name).write_text(TINY_TEXT, encoding="utf-8")
    ran = 0
    for argv in COMMANDS:
        line = " ".join(argv)
        if "data=text_files" not in line or "scripts/train.py" not in line:
            continue
        extra = [] if "model=ngram" in line else ["trainer.max_steps=2", "trainer.eval_every=2", "model.epochs=1"]
        if "model=word2vec" in line:
            extra = ["model.epochs=1", "model.eval_sets=false"]
        elif "model=ngram" not in line:
            extra = ["trainer.max_steps=2", "trainer.eval_every=2", "trainer.eval_batches=1"]
        _run(argv + extra, tmp_path)
        ran += 1
    assert ran >= 3
    # the n-gram's export to ARPA, as written (<run> = the n-gram run above); reading it back
    # (`arpa=kenlm.arpa format=checkpoint`) is tested with escaped tokens in tests/families/test_ngram.py
    for argv in COMMANDS:
        if script_args(argv, "export.py") is not None and "ngram_on_text_files" in " ".join(argv):
            _run(argv, tmp_path)
    assert (tmp_path / "model.arpa").is_file()
