"""What every script shares: the command line handed to Hydra, and one error boundary.

Keys a YAML does not declare (a family's sample keys, a mistyped trainer key) reach seqgen's own
validation, which names the key and the valid ones, instead of Hydra's "use +key" advice: every
`key=value` that is not a group choice is passed on as `++key=value` (set, or add if absent). Errors
that are the input's fault (seqgen.core.errors) print one line and exit with status 2 (a run stopped
by SIGTERM / SIGINT after saving exits with 128 + the signal); anything else is a bug and keeps its
traceback.

Free text (`prompt=O Romeo, Romeo`, `prompt=What's up`, `prompt=Zoë`) never reaches Hydra's override
grammar, which would read a comma as a sweep, an apostrophe as a quote and `${...}` as an interpolation:
the script names those keys (`VERBATIM`), `prepare_argv` takes their values out of the command line
character for character, and `verbatim(cfg)` puts them back into the composed config.
"""

from __future__ import annotations

import errno
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from seqgen import families
from seqgen.core.errors import SeqgenError
from seqgen.core.schema import to_plain

# config groups of train.py (a `group=option` argument chooses a file, it is not a key)
TRAIN_GROUPS = ("model", "data", "optim", "trainer", "logger", "experiment")
# keys of sample.py whose values are free text, taken verbatim (see the module docstring)
VERBATIM = ("prompt", "prompt_file")
# the values prepare_argv took out of the command line: {key: value}, applied by verbatim(cfg)
_taken: dict[str, str] = {}


def prepare_argv(groups: tuple = (), argv: list[str] | None = None, verbatim: tuple = ()) -> list[str]:
    """Rewrite key overrides as Hydra force-adds (++key=value); leave flags, group choices, hydra.*
    keys and explicit +, ++ and ~ overrides alone; take `key=value` of the keys in `verbatim` out of
    the command line (kept for verbatim(cfg); the last one given wins). Changes sys.argv in place
    unless argv is given."""
    args = sys.argv if argv is None else argv
    _taken.clear()
    out = [args[0]] if args else []
    for a in args[1:]:
        key = a.split("=", 1)[0]
        if "=" in a and key in verbatim:
            _taken[key] = unquote(a.split("=", 1)[1])
        else:
            out.append(_force_add(a, groups))
    if argv is None:
        sys.argv[:] = out
    return out


def _force_add(arg: str, groups: tuple) -> str:
    """`key=value` -> `++key=value` (Hydra's set-or-add); flags, group choices, hydra.* keys and
    explicit +, ++ and ~ overrides unchanged."""
    key = arg.split("=", 1)[0]
    if arg.startswith(("-", "+", "~")) or "=" not in arg or key.startswith("hydra") or key in groups:
        return arg
    return "++" + arg


def unquote(value: str) -> str:
    """A value wrapped whole in one pair of quotes, Hydra's quoting (`prompt="'O Romeo, Romeo'"`, the
    only way before values were taken verbatim), loses that pair; anything else stays as typed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" and value[0] not in value[1:-1]:
        return value[1:-1]
    return value


def verbatim(cfg) -> dict:
    """The composed config as a plain dict with the values prepare_argv took verbatim put back."""
    return {**to_plain(cfg), **_taken}


def run(fn, *args):
    """fn(*args) behind the error boundary: a SeqgenError becomes `error: <message>` and exit 2."""
    try:
        return fn(*args)
    except SeqgenError as e:
        code = getattr(e, "exit_code", 2)
        print(f"{'error: ' if code == 2 else ''}{e}", file=sys.stderr, flush=True)
        sys.exit(code)
    except OSError as e:
        # the file system refused (read-only folder or disk, full disk, a link loop) somewhere no check of
        # ours caught first: the file and the reason in one line, not a traceback
        if e.errno not in _USER_ERRNOS or not e.filename:
            raise
        print(f"error: {e.filename}: {e.strerror}; {_USER_ERRNOS[e.errno]}", file=sys.stderr, flush=True)
        sys.exit(2)


_USER_ERRNOS = {
    errno.EACCES: "make it writable (or readable), or point out_root= / data_root= / out= elsewhere",
    errno.EPERM: "make it writable, or point out_root= / data_root= / out= elsewhere",
    errno.EROFS: "a read-only file system: point out_root= / data_root= / out= at a writable one",
    errno.ENOSPC: "the disk is full: free space and run the same command again (runs resume)",
    errno.ELOOP: "a loop of symbolic links: fix the link",
}


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def compose(overrides: list[str], config_name: str = "train"):
    """The config scripts/train.py would build from these command-line overrides: the same rewriting
    (`key=value` force-added, so `data.max_vocab=` works on a data option whose YAML does not list it)."""
    groups = TRAIN_GROUPS if config_name == "train" else ()
    overrides = [_force_add(a, groups) for a in overrides]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides)


def family_keys(args: str) -> dict[str, list[str]]:
    """Each registered family's own keys of a verb, from its dataclass (`args`: "SampleArgs" or
    "EvalArgs"), as `key=default` -> {family: [...]}; families without any are left out. The one
    list: sample.py / evaluate.py validate against the same dataclasses."""
    out = {}
    for name in families.FAMILIES:
        cls = getattr(families.get(name), args)
        if cls is not None:
            out[name] = [f"{f.name}={_default(f)}" for f in fields(cls)]
    return out


def _default(f) -> str:
    if f.default is not MISSING:
        v = f.default
    elif f.default_factory is not MISSING:
        v = f.default_factory()
    else:
        return "(required)"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(x) for x in v) + "]"
    return {True: "true", False: "false", None: "null"}[v] if isinstance(v, (bool, type(None))) else str(v)


def print_family_keys(args: str, argv: list[str] | None = None) -> bool:
    """With --keys on the command line: print each family's own keys (family_keys) and return True, so
    the script stops before Hydra reads the command line."""
    if "--keys" not in (sys.argv if argv is None else argv):
        return False
    for name, keys in family_keys(args).items():
        print(f"{name}: {' '.join(keys)}")
    return True
