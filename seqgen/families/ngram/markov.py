"""A first-order Markov chain over named states (Markov 1913): the lecture's weather example.

Maximum-likelihood transition matrix from a sequence, next-state prediction, sampling and the
stationary distribution. The n-gram model (ngram.py) is the smoothed, higher-order version.
"""

from __future__ import annotations

import numpy as np


class MarkovChain:
    def __init__(self, states, transition):
        self.states = list(states)
        self.P = np.asarray(transition, dtype=np.float64)  # (S, S): P[i, j] = p(next=j | now=i)
        if self.P.shape != (len(self.states),) * 2 or not np.allclose(self.P.sum(1), 1):
            raise ValueError("transition must be a square matrix whose rows sum to 1")
        self.index = {s: i for i, s in enumerate(self.states)}

    @classmethod
    def fit(cls, sequence, states=None) -> "MarkovChain":
        """Count transitions; a state never left gets a uniform row."""
        states = list(states) if states is not None else sorted(set(sequence))
        idx = {s: i for i, s in enumerate(states)}
        ids = np.array([idx[s] for s in sequence])
        counts = np.zeros((len(states), len(states)))
        np.add.at(counts, (ids[:-1], ids[1:]), 1)
        rows = counts.sum(1, keepdims=True)
        return cls(states, np.where(rows > 0, counts / np.maximum(rows, 1), 1 / len(states)))

    def predict(self, state, steps: int = 1) -> dict:
        """Distribution over states `steps` transitions after `state`."""
        p = np.linalg.matrix_power(self.P, steps)[self.index[state]]
        return dict(zip(self.states, p))

    def sample(self, start, length: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        out, i = [start], self.index[start]
        for _ in range(length - 1):
            i = rng.choice(len(self.states), p=self.P[i])
            out.append(self.states[i])
        return out

    def stationary(self) -> dict:
        """pi with pi P = pi: the left eigenvector for eigenvalue 1, normalised."""
        w, v = np.linalg.eig(self.P.T)
        pi = np.real(v[:, np.argmin(np.abs(w - 1))])
        return dict(zip(self.states, pi / pi.sum()))
