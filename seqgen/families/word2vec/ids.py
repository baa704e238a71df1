"""A prepared split's word ids for word2vec, read block by block: the only copy of the corpus held is
the int32 training sequence (the ids file is read through data.text's reader, not mapped whole)."""

from __future__ import annotations

import numpy as np

from seqgen.core.errors import DataError
from seqgen.data.text import as_ids, window_of

BLOCK = 1 << 24   # ids mapped per pass: 16M (64 MB as int32)


def id_blocks(ids):
    """(offset, block) over a 1-D id array or a whole-file np.memmap (read with os.pread, so the
    pages read do not stay resident in this process)."""
    src = as_ids(ids)
    for lo in range(0, len(src), BLOCK):
        yield lo, np.asarray(window_of(src, lo, BLOCK))


def kept_lines(ids: np.ndarray, lut: np.ndarray, spans, total: int):
    """(seq (total,) int32 of lut[id] for every id with lut[id] >= 0, in order; lengths (lines,) int64
    of each span's kept ids), block by block. Every kept id must lie inside a span (a line). The spans'
    int64 arrays are overwritten (they become the kept counts before each start / end), so that no
    copy of the line index is made: ~16 bytes a line, beside seq's 4 bytes a kept word."""
    starts, ends = (np.asarray(a, np.int64) for a in spans)
    seq, fill = np.empty(total, np.int32), 0
    for lo, block in id_blocks(ids):
        mapped = lut[block]
        keep = mapped >= 0
        k = mapped[keep]
        seq[fill:fill + len(k)] = k
        before = np.zeros(len(block) + 1, np.int32)      # kept ids before each offset of this block
        np.cumsum(keep, dtype=np.int32, out=before[1:])
        for pos in (starts, ends):
            # entries already turned into counts are <= their position < lo: pos stays sorted
            i0, i1 = np.searchsorted(pos, [lo, lo + len(block)])
            pos[i0:i1] = fill + before[pos[i0:i1] - lo]
        fill += len(k)
    for pos in (starts, ends):
        pos[np.searchsorted(pos, len(ids)):] = fill       # spans ending at the very end
    ends -= starts
    if fill != total or int(ends.sum()) != total:
        raise DataError(f"the prepared ids hold {fill:,} vocabulary words ({total:,} counted) but its lines "
                        f"{int(ends.sum()):,}: the line index does not match the ids (prepare again)")
    return seq, ends
