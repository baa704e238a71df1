"""Video loops (Schödl et al. 2000, section 4): a fixed sequence of at most L frames that plays forever.

A primitive loop is one backward transition s -> d (d < s): play d, d+1, ..., s, jump back to d; its
length is s - d + 1 and its cost c(s -> d). A compound loop is a multiset of primitive loops played as
one cycle: after the jump of one, play forward to the source of the next. Its length is the sum of
the primitive lengths whatever the order, so lengths add like knapsack weights and costs add too:

    dynamic programme   G[i, l] = lowest cost of a multiset of transitions that all overlap transition i
                        (ranges [d, s] intersect) with total length l; the best loop of length l that
                        contains i costs c_i + G[i, l - len_i]. One vectorised step per length l.
    choice              the length l <= L with the lowest cost per frame (each jump shows once per l
                        frames), or the length asked for
    scheduling          transitions are inserted one at a time into a valid cycle (`schedule`): a
                        multiset whose ranges chain into one interval always has an order, and the DP only
                        builds such multisets.
"""

from __future__ import annotations

import numpy as np

from seqgen.core.errors import ConfigError


def candidates(c: np.ndarray, max_len: int, count: int) -> dict:
    """The `count` cheapest backward transitions s -> d (d < s) with length s - d + 1 <= max_len that are local
    minima of their row (a neighbour d +- 1 is the same jump, one frame off) -> arrays s, d, length, cost."""
    n = len(c)
    gap = np.arange(n)[:, None] - np.arange(n)[None, :]               # s - d
    s, d = np.nonzero((gap >= 1) & (gap < max_len))                   # no 1-frame loop: a frame never repeats
    pad = np.pad(c, ((0, 0), (1, 1)), constant_values=np.inf)
    local = (c <= pad[:, :-2]) & (c <= pad[:, 2:])
    ok = np.isfinite(c[s, d]) & local[s, d]
    s, d = s[ok], d[ok]
    order = np.argsort(c[s, d], kind="stable")[:count]
    s, d = s[order], d[order]
    return {"s": s, "d": d, "length": s - d + 1, "cost": c[s, d]}


def best_loops(cand: dict, max_len: int) -> dict:
    """The DP table -> {"cost": (L+1,) lowest total cost of a loop of each exact length (inf: none),
    "first": (L+1,) the transition it is built around, and the back-pointers to rebuild it}."""
    length, cost = cand["length"], cand["cost"]
    m = len(length)
    overlap = (cand["d"][:, None] <= cand["s"][None, :]) & (cand["d"][None, :] <= cand["s"][:, None])   # (m, m)
    g = np.full((m, max_len + 1), np.inf)          # g[i, l]: cheapest multiset of i's overlappers of length l
    g[:, 0] = 0.0
    arg = np.full((m, max_len + 1), -1)
    for ell in range(1, max_len + 1):
        usable = np.nonzero(length <= ell)[0]      # transitions short enough to end a length-ell multiset
        if usable.size == 0:
            continue
        options = g[:, ell - length[usable]] + cost[usable][None, :]           # (m, usable)
        options[~overlap[:, usable]] = np.inf
        k = options.argmin(axis=1)
        g[:, ell], arg[:, ell] = options[np.arange(m), k], usable[k]
    total = np.full((m, max_len + 1), np.inf)      # total[i, l]: best loop of length l containing i
    for i in range(m):
        total[i, length[i]:] = cost[i] + g[i, :max_len + 1 - length[i]]
    first = total.argmin(axis=0)
    return {"cost": total[first, np.arange(max_len + 1)], "first": first, "arg": arg}


def members(cand: dict, table: dict, ell: int) -> list[int]:
    """The candidate indices (with repeats) of the best loop of length ell."""
    i = int(table["first"][ell])
    out, rest = [i], ell - int(cand["length"][i])
    while rest > 0:
        j = int(table["arg"][i, rest])
        out.append(j)
        rest -= int(cand["length"][j])
    return out


def schedule(trans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Order transitions (s, d) into a cycle in which, after each jump to d, the next source is at or after
    d. Each new transition must overlap the frames [a, b] the cycle covers (it plays every frame there):
    one whose source lies past b goes just before the transition leaving from b; else just after the
    segment that plays its source frame. Raises ValueError when the ranges do not chain."""
    rest = sorted(trans, key=lambda t: (-t[0], t[1]))
    cycle = [rest.pop(0)]
    a, b = cycle[0][1], cycle[0][0]
    while rest:
        k = next((k for k, (s, d) in enumerate(rest) if d <= b and s >= a), None)
        if k is None:
            raise ValueError(f"transitions {rest} do not overlap the loop's frames [{a}, {b}]")
        s, d = rest.pop(k)
        if s > b:
            u = next(p for p, t in enumerate(cycle) if t[0] == b)
            cycle.insert(u, (s, d))
        else:   # the segment from landing d_k to the next source covers s
            m = len(cycle)
            k = next(k for k in range(m) if cycle[k][1] <= s <= cycle[(k + 1) % m][0])
            cycle.insert(k + 1, (s, d))
        a, b = min(a, d), max(b, s)
    return cycle


def loop_frames(cycle: list[tuple[int, int]]) -> np.ndarray:
    """The frames of one period: from the last jump's landing, forward to each source, jump, ... The
    period ends on the last transition's source, whose jump lands on the first frame again."""
    out = []
    land = cycle[-1][1]
    for s, d in cycle:
        if s < land:
            raise ValueError(f"invalid schedule: source {s} before landing {land}")
        out.extend(range(land, s + 1))
        land = d
    return np.asarray(out, dtype=np.int64)


def find_loop(c: np.ndarray, max_len: int, count: int = 40, min_len: int = 1, length: int | None = None) -> dict:
    """The best compound loop -> {frames (l,), transitions [(s, d)], cost, length, table (L+1,)}.

    `length` asks for an exact length; otherwise the length in [min_len, max_len] of least cost per frame."""
    if max_len < 1:
        raise ConfigError(f"model.loop_max_len={max_len}: expected >= 1")
    cand = candidates(c, max_len, count)
    if len(cand["s"]) == 0:
        raise ConfigError("no backward transition can be assessed: the clip is too short for a loop")
    table = best_loops(cand, max_len)
    cost = table["cost"]
    if length is not None:
        if not 1 <= length <= max_len or not np.isfinite(cost[length]):
            ok = [ell for ell in range(1, max_len + 1) if np.isfinite(cost[ell])]
            raise ConfigError(f"loop_length={length}: no loop of that length from the {len(cand['s'])} candidate "
                              f"transitions (possible lengths up to model.loop_max_len={max_len}: "
                              f"{ok[:12]}{' ...' if len(ok) > 12 else ''})")
        ell = length
    else:
        per_frame = cost / np.maximum(np.arange(max_len + 1), 1)
        per_frame[: max(1, min_len)] = np.inf
        if not np.isfinite(per_frame).any():
            raise ConfigError(f"no loop between model.loop_min_len={min_len} and model.loop_max_len={max_len} frames")
        ell = int(per_frame.argmin())
    picked = [(int(cand["s"][k]), int(cand["d"][k])) for k in members(cand, table, ell)]
    cycle = schedule(picked)
    frames = loop_frames(cycle)
    assert len(frames) == ell
    return {"frames": frames, "transitions": cycle, "cost": float(cost[ell]), "length": ell,
            "table": np.where(np.isfinite(cost), cost, np.nan)}
