"""How well B′ reproduces a known filter: PSNR and SSIM against the true filter applied to B, beside
the naive baselines (B unchanged; one global per-channel linear map fitted from A to A′)."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from seqgen.texture.analogy import AnalogyConfig, analogy_result
from seqgen.texture.filters import get, make_pair

# filters with a ground truth, in table order (the local ones must be beaten by B′)
GROUND_TRUTH = ("blur", "emboss", "posterize", "kuwahara", "edges", "colorize", "superres")


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = float(((np.asarray(x, np.float64) - ref) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM over the colour channels (Wang et al. 2004, 7x7 windows), values in [0, 1]."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(x, np.float64), ref, channel_axis=-1, data_range=1.0))


def linear_map(a: np.ndarray, a_prime: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Baseline: A′_c ~ alpha_c A_c + beta_c fitted by least squares per channel, applied to B."""
    out = np.empty_like(b)
    for ch in range(3):
        x, y = a[..., ch].ravel(), a_prime[..., ch].ravel()
        var = x.var()
        alpha = ((x - x.mean()) * (y - y.mean())).mean() / var if var > 1e-12 else 0.0
        out[..., ch] = alpha * (b[..., ch] - x.mean()) + y.mean()
    return np.clip(out, 0, 1)


def config_for(name: str, cfg: AnalogyConfig | None = None, **overrides) -> AnalogyConfig:
    """cfg (default AnalogyConfig()) with filter `name`'s settings, then overrides, applied."""
    return replace(cfg or AnalogyConfig(), **{**get(name).settings, **overrides})


def score_filter(name: str, a_img: np.ndarray, b_img: np.ndarray, seed: int = 0, **overrides) -> dict:
    """PSNR / SSIM of B′ (the filter's settings + overrides), 'B unchanged' and the linear map against
    the true filtered B, with B′'s time."""
    pair = make_pair(name, a_img, b_img, seed=seed)
    truth = pair["truth"]
    t = time.perf_counter()
    res = analogy_result(pair["a"], pair["a_prime"], pair["b"], config_for(name, **overrides), seed)
    seconds = time.perf_counter() - t
    outs = {"b_prime": res.b_prime, "b_unchanged": pair["b"],
            "linear": linear_map(pair["a"], pair["a_prime"], pair["b"])}
    row = {"filter": name, "local": pair["filter"].local, "seconds": round(seconds, 2), "search": res.search,
           "coherent": round(res.coherent[-1], 3)}
    for k, img in outs.items():
        row[f"{k}_psnr"], row[f"{k}_ssim"] = round(psnr(img, truth), 2), round(ssim(img, truth), 4)
    row["beats_baselines"] = bool(row["b_prime_psnr"] > max(row["b_unchanged_psnr"], row["linear_psnr"]) and
                                  row["b_prime_ssim"] > max(row["b_unchanged_ssim"], row["linear_ssim"]))
    row["images"] = {**outs, "a": pair["a"], "a_prime": pair["a_prime"], "truth": truth}
    return row


def table(rows: list[dict]) -> str:
    """Markdown table of score_filter rows."""
    lines = ["| filter | B′ PSNR / SSIM | B unchanged | global linear map | B′ beats both | B′ time |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[f'{k}_psnr']:.2f} dB / {r[f'{k}_ssim']:.3f}" for k in ("b_prime", "b_unchanged", "linear")]
        tag = "" if r["local"] else " (not local)"
        lines.append(f"| {r['filter']}{tag} | {' | '.join(cells)} | {'yes' if r['beats_baselines'] else '**no**'} "
                     f"| {r['seconds']:.1f} s |")
    return "\n".join(lines)
