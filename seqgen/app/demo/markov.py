"""Tab 1, the Markov chain: the lecture's three-state weather chain. Edit the 3x3 matrix, sample a
week, see the stationary distribution (seqgen.families.ngram.markov.MarkovChain)."""

from __future__ import annotations

import numpy as np

from seqgen.app.demo.common import guarded
from seqgen.core.errors import ConfigError
from seqgen.families.ngram.markov import MarkovChain

STATES = ("sunny", "cloudy", "rainy")
DEFAULT = [[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.4, 0.4]]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ICONS = {"sunny": "☀️", "cloudy": "☁️", "rainy": "🌧️"}


def matrix_of(value) -> np.ndarray:
    """A 3x3 matrix from the table (a list of rows, a dict with 'data', or a DataFrame); rows that do
    not sum to 1 are an error naming the row."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy().tolist()
    if isinstance(value, dict):
        value = value.get("data", value)
    try:
        rows = [[float(x) for x in (r[1:] if len(r) == 4 else r)] for r in value]   # a label column is dropped
        P = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("the transition table must hold numbers (probabilities from 0 to 1)") from None
    if P.shape != (3, 3):
        raise ConfigError(f"the transition table must be 3x3 (today x tomorrow), got {P.shape}")
    if (P < 0).any():
        raise ConfigError("transition probabilities must be >= 0")
    sums = P.sum(1)
    bad = [f"{s} sums to {t:.3f}" for s, t in zip(STATES, sums) if abs(t - 1) > 1e-6]
    if bad:
        raise ConfigError(f"each row is p(tomorrow | today) and must sum to 1: {'; '.join(bad)}")
    return P


def weather(matrix, start: str = "sunny", seed: int = 0, days: int = 7) -> tuple[str, str]:
    """(the sampled days, the stationary distribution and the forecast from `start`) as Markdown."""
    if start not in STATES:
        raise ConfigError(f"start={start!r}: expected one of {list(STATES)}")
    chain = MarkovChain(STATES, matrix_of(matrix))
    seq = chain.sample(start, int(days), seed=int(seed))
    names = [DAYS[i % 7] for i in range(len(seq))]
    week = ("| " + " | ".join(names) + " |\n|" + "---|" * len(seq) + "\n| "
            + " | ".join(f"{ICONS[s]} {s}" for s in seq) + " |")
    pi = chain.stationary()
    tomorrow = chain.predict(start, 1)
    later = chain.predict(start, 7)
    table = ("| | " + " | ".join(STATES) + " |\n|---|" + "---|" * 3 + "\n"
             + f"| tomorrow, after {start} | " + " | ".join(f"{tomorrow[s]:.3f}" for s in STATES) + " |\n"
             + f"| in a week, after {start} | " + " | ".join(f"{later[s]:.3f}" for s in STATES) + " |\n"
             + "| **stationary** π (π P = π) | " + " | ".join(f"**{pi[s]:.3f}**" for s in STATES) + " |")
    return week, table


def tab(ctx) -> None:
    import gradio as gr

    gr.Markdown("A first-order Markov chain: tomorrow's weather depends only on today's. Each row of the matrix is "
                "p(tomorrow | today). Sampling walks the chain; the stationary distribution is the long-run share "
                "of each state, whatever today is.")
    with gr.Row():
        with gr.Column():
            matrix = gr.Dataframe(value=[[s, *r] for s, r in zip(STATES, DEFAULT)],
                                  headers=["today \\ tomorrow", *STATES], datatype=["str", "number", "number",
                                                                                    "number"],
                                  row_count=(3, "fixed"), column_count=(4, "fixed"), interactive=True,
                                  label="transition matrix P")
            with gr.Row():
                start = gr.Dropdown(list(STATES), value="sunny", label="today")
                seed = gr.Number(value=0, precision=0, label="seed")
            go = gr.Button("Sample a week", variant="primary")
        with gr.Column():
            week = gr.Markdown(label="a week")
            stats = gr.Markdown(label="distributions")
    go.click(guarded(weather), [matrix, start, seed], [week, stats], api_name="markov")
