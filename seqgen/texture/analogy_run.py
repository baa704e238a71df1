"""mode=analogy of scripts/synthesize.py: load A, A′ (or make it with filter=) and B, run the analogy,
save an A | A′ | B | B′ panel (and B′ alone), print a JSON report with PSNR / SSIM when B′ has a truth.

    python scripts/synthesize.py mode=analogy a=A.png a_prime=A2.png b=B.png
    python scripts/synthesize.py mode=analogy a=skimage:astronaut filter=emboss b=skimage:coffee
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seqgen.core.errors import ConfigError
from seqgen.texture.analogy import AnalogyConfig, analogy_result, as_rgb
from seqgen.texture.analogy_eval import config_for, linear_map, psnr, ssim
from seqgen.texture.efros_leung import TextureError
from seqgen.texture.filters import label_palette, make_pair
from seqgen.texture.images import load_image, save_png, side_by_side
from seqgen.texture.procedural import label_field

# SynthConfig keys that override AnalogyConfig when set (null: the filter's choice, else the default)
OVERRIDES = ("levels", "kappa", "color", "features", "search")


def _fit(img: np.ndarray, side: int | None) -> np.ndarray:
    """Scale (H, W, C) so that its longer side is `side` pixels (aspect kept); None: as is."""
    if not side or max(img.shape[:2]) == side:
        return img

    h, w = img.shape[:2]
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    pil = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8).squeeze(-1) if img.shape[2] == 1
                          else np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(pil.resize(size, Image.LANCZOS), dtype=np.float64).reshape(size[1], size[0], -1) / 255.0


def _load(cfg, key: str, side: int | None = None) -> np.ndarray:
    """A, A′ or B as (H, W, 3) floats; scaled to `side` on the 8-bit image, before the float copy (a
    large A is never float64 at full size); over cfg.max_pixels refused before decoding."""
    spec = getattr(cfg, key)
    if not spec:
        raise ConfigError(f"mode=analogy needs {key}=PATH (or skimage:NAME)")
    return as_rgb(load_image(spec, key=key, max_pixels=cfg.max_pixels, longest=side), key)


def _size(cfg, key: str) -> tuple[int, int]:
    """(H, W) of A or A′ as stored, from the file's header (skimage: images are loaded)."""
    spec = getattr(cfg, key)
    if str(spec).startswith("skimage:"):
        return load_image(spec, key=key).shape[:2]
    with open_image_header(spec, key) as im:
        return im.size[1], im.size[0]


def open_image_header(spec: str, key: str):
    if not Path(spec).expanduser().is_file():
        raise TextureError(f"{key}={spec}: file not found")
    try:
        return Image.open(Path(spec).expanduser())
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise TextureError(f"{key}={spec}: not a readable image ({e})") from None


def inputs(cfg) -> dict:
    """{"a", "a_prime", "b", "truth"} from the config's files or filter."""
    if cfg.filter and cfg.a_prime:
        raise ConfigError("give a_prime=FILE or filter=NAME, not both")
    if cfg.b == "random" and cfg.filter != "labels":
        raise ConfigError("b=random draws a label map, which only filter=labels can paint; give b=FILE "
                          "(or skimage:NAME), or use filter=labels")
    a = _load(cfg, "a", cfg.side)
    if cfg.filter:
        if cfg.filter == "labels" and cfg.b == "random":    # texture by numbers on a generated label map
            a = _fit(a, cfg.side)
            pair = make_pair("labels", a, a, seed=cfg.seed)
            pal = label_palette(6)
            pair["b"] = pal[label_field(a.shape[0], a.shape[1], 6, cfg.seed + 1)]
        else:
            pair = make_pair(cfg.filter, _fit(a, cfg.side), _fit(_load(cfg, "b", cfg.side), cfg.side), seed=cfg.seed)
        return pair
    if not cfg.a_prime:
        raise ConfigError("mode=analogy needs a_prime=FILE (A filtered) or filter=NAME to make it; filters: "
                          "blur, emboss, edges, posterize, kuwahara, superres, colorize, labels, texture")
    (ha, wa), (hp, wp) = _size(cfg, "a"), _size(cfg, "a_prime")
    if (ha, wa) != (hp, wp):
        raise TextureError(f"a={cfg.a} is {ha}x{wa} but a_prime={cfg.a_prime} is {hp}x{wp}: A and A′ must have "
                           f"the same size")
    a_prime = _load(cfg, "a_prime", cfg.side)
    return {"a": _fit(a, cfg.side), "a_prime": _fit(a_prime, cfg.side), "b": _fit(_load(cfg, "b", cfg.side), cfg.side),
            "truth": None}


def run_analogy(cfg) -> dict:
    """The analogy behind `scripts/synthesize.py mode=analogy` (cfg: seqgen.texture.run.SynthConfig)."""
    data = inputs(cfg)
    overrides = {k: getattr(cfg, k) for k in OVERRIDES if getattr(cfg, k) is not None}
    acfg = config_for(cfg.filter, **overrides) if cfg.filter else AnalogyConfig(**overrides)
    t = time.perf_counter()
    res = analogy_result(data["a"], data["a_prime"], data["b"], acfg, cfg.seed, cfg.device)
    report = {"mode": "analogy", "filter": cfg.filter, "a": cfg.a, "a_prime": cfg.a_prime, "b": cfg.b,
              "a_shape": list(data["a"].shape), "b_shape": list(data["b"].shape), "search": res.search,
              "levels": acfg.levels, "kappa": acfg.kappa, "color": acfg.color, "features": acfg.features,
              "seconds": round(time.perf_counter() - t, 3), "coherent": [round(c, 3) for c in res.coherent]}
    if data["truth"] is not None:
        truth = data["truth"]
        for name, img in (("b_prime", res.b_prime), ("b_unchanged", data["b"]),
                          ("linear", linear_map(data["a"], data["a_prime"], data["b"]))):
            report[f"{name}_psnr"], report[f"{name}_ssim"] = round(psnr(img, truth), 2), round(ssim(img, truth), 4)
    stem = f"analogy_{cfg.filter or 'pair'}_s{cfg.seed}"
    path = Path(cfg.out or f"outputs/texture/{stem}.png")
    panel = side_by_side([data["a"], data["a_prime"], data["b"], res.b_prime], ["A", "A'", "B", "B'"], scale=1)
    save_png(panel / 255.0, path)
    report["out"] = str(path)
    report["b_prime_out"] = str(save_png(res.b_prime, path.with_name(path.stem + "_bprime.png")))
    print(json.dumps(report))
    return report
