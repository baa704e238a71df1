"""Experiment tracking: stdout + metrics.jsonl always; wandb or TensorBoard on request.

wandb runs offline automatically when no API key is configured (WANDB_API_KEY or a netrc login),
and resumes the same wandb run id after a resume. Only rank 0 builds a Tracker; other ranks get
NullTracker. Heavy packages are imported lazily.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.core.schema import key


@dataclass
class LoggerConfig:
    name: str = key("none", choices=("none", "wandb", "tensorboard", "all"))   # all: wandb and TensorBoard
    project: str = "seqgen"
    entity: str | None = None
    # wandb: auto (online with a key, offline without) | online | offline | disabled
    mode: str = key("auto", choices=("auto", "online", "offline", "disabled"))
    tags: list | None = None
    run_suffix: str = ""   # appended to the default run_name, so another dashboard setup is another run folder


class NullTracker:
    wandb_id = None

    def log(self, metrics: dict, step: int):
        pass

    def log_text(self, key: str, text: str, step: int):
        pass

    def log_image(self, key: str, image, step: int, caption: str | None = None):
        pass

    def finish(self):
        pass


def _wandb_has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def drop_replayed(path: Path, step: int) -> int:
    """After a kill, the steps past the resumed checkpoint run again: drop their old rows from
    metrics.jsonl (rewritten atomically) so that every step has one row. -> rows dropped."""
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except ValueError:   # a line cut short by the kill
            continue
    if len(keep) < len(lines):
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(f"{line}\n" for line in keep))
        os.replace(tmp, path)
    return len(lines) - len(keep)


class Tracker(NullTracker):
    def __init__(self, run_dir, cfg: LoggerConfig, config: dict, run_name: str,
                 wandb_id: str | None = None, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.cfg = cfg
        if resume_step is not None:
            drop_replayed(self.run_dir / "metrics.jsonl", resume_step)
        self.metrics_file = open(self.run_dir / "metrics.jsonl", "a", buffering=1)
        self.wandb = self.tb = None
        self.wandb_id = wandb_id
        if cfg.name in ("wandb", "all"):
            self._init_wandb(config, run_name, wandb_id)
        if cfg.name in ("tensorboard", "all"):
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _init_wandb(self, config, run_name, wandb_id):
        import wandb

        mode = self.cfg.mode
        if mode == "auto":
            mode = "online" if _wandb_has_key() else "offline"
        if mode == "offline":
            print("[seqgen] wandb: no API key found, logging offline into the run directory "
                  "(`wandb sync` uploads it later)", flush=True)
        self.wandb_id = wandb_id or secrets.token_hex(4)  # resumable id, saved in checkpoints
        self.wandb = wandb.init(project=self.cfg.project, entity=self.cfg.entity, name=run_name,
                                id=self.wandb_id, resume="allow", dir=str(self.run_dir), mode=mode,
                                config=config, tags=self.cfg.tags)

    def log(self, metrics: dict, step: int):
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        self.metrics_file.write(json.dumps(record) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)
        if self.tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)

    def log_text(self, key: str, text: str, step: int):
        if self.wandb is not None:
            import wandb

            self.wandb.log({key: wandb.Table(columns=["step", "text"], data=[[step, text]])}, step=step)
        if self.tb is not None:
            # TensorBoard renders markdown: indent by 4 spaces so line breaks survive
            self.tb.add_text(key, "    " + text.replace("\n", "\n    "), step)

    def log_image(self, key: str, image, step: int, caption: str | None = None):
        """image: a PIL image or an (H, W, 3) uint8 array."""
        arr = np.asarray(image)
        if self.wandb is not None:
            import wandb

            self.wandb.log({key: wandb.Image(arr, caption=caption)}, step=step)
        if self.tb is not None:
            self.tb.add_image(key, arr, step, dataformats="HWC")

    def finish(self):
        self.metrics_file.close()
        if self.wandb is not None:
            self.wandb.finish()
        if self.tb is not None:
            self.tb.close()
