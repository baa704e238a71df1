"""Memory and file sizes written as users write them: 4G, 512M, 100k, 2.5G, 40% (of physical
memory, as KenLM's `lmplz -S 40%`), or a plain number of bytes."""

from __future__ import annotations

import os
import re

from seqgen.core.errors import ConfigError

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 * 2**30


def parse_size(value, key: str) -> int:
    """Bytes for '4G' / '512M' / '40%' / 123456; one ConfigError naming key otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: expected a size such as 4G, 512M, 40% or a number of bytes")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ConfigError(f"{key}={value!r}: expected a positive size")
        return int(value)
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(%|[kmgt]?)(?:i?b)?", str(value).strip().lower())
    number = float(m.group(1)) if m else 0.0
    if not m or number <= 0 or (m.group(2) == "%" and number > 100):
        raise ConfigError(f"{key}={value!r}: expected a size such as 4G, 512M, 40% or a number of bytes")
    if m.group(2) == "%":
        return int(physical_memory() * number / 100)
    return int(number * _UNITS[m.group(2)])
