"""The run folder: where a run keeps its checkpoints, logs and evaluations, and how a checkpoint file is written.

    run = RunDir("runs/x")
    run.checkpoint("best")           # best.pt, else last.pt
    resolve_checkpoint("runs/x")     # a file as given, or a run folder's checkpoint

What a checkpoint holds is ladle_model/runs/checkpoint.py's; this module only knows where files go.

Layout of a run folder (docs/design.md):

    RUN/config.json                         the resolved configs of the newest call of `train`
    RUN/feature_net.pt (+ feature_net.json) phi for the perceptual loss and its cache key
    RUN/checkpoints/step-00001000.pt        every `checkpoint_every_steps` and at each epoch end
    RUN/checkpoints/last.pt                 the newest of them; a re-run resumes from it
    RUN/checkpoints/best.pt                 lowest validation loss at an epoch end
    RUN/log_steps.csv, RUN/log_epochs.csv   per-step and per-epoch losses
    RUN/loss_curve.png, RUN/training_report.md
    RUN/eval/{preset}/                      one evaluation per preset (see `EvalFiles`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ladle_model.runs.errors import CheckpointError
from storage.atomic import TMP_MARKER, atomic_path


@dataclass(frozen=True)
class EvalFiles:
    """RUN/eval/{preset}/: what one evaluation writes (ladle_model/evaluation/evaluate.py)."""

    root: Path

    @property
    def eval_json(self) -> Path:
        return self.root / "eval.json"  # written last: its key marks the evaluation complete

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def tracks_parquet(self) -> Path:
        return self.root / "tracks.parquet"

    @property
    def reports(self) -> dict[str, Path]:
        """The files a finished evaluation must have besides eval.json, by name."""
        return {p.name: p for p in (self.report_md, self.report_html, self.tracks_parquet)}

    @staticmethod
    def spectrogram_name(track_id: str) -> str:
        """The figure's path relative to the eval folder (as the report links it)."""
        return f"spectrograms/{track_id}.png"

    def spectrogram(self, track_id: str) -> Path:
        return self.root / self.spectrogram_name(track_id)


@dataclass(frozen=True)
class RunDir:
    """Every path in a run folder. `RunDir("runs/x").last` is runs/x/checkpoints/last.pt."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # accept str

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    # The step checkpoints, relative to the run folder: inference reads only best.pt or last.pt, so a
    # local mirror of a remote run may leave these in the bucket.
    STEP_CHECKPOINTS_GLOB = "checkpoints/step-*.pt"

    @property
    def feature_net(self) -> Path:
        return self.root / "feature_net.pt"

    @property
    def feature_net_key(self) -> Path:
        return self.root / "feature_net.json"

    @property
    def step_log(self) -> Path:
        return self.root / "log_steps.csv"

    @property
    def epoch_log(self) -> Path:
        return self.root / "log_epochs.csv"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def training_report(self) -> Path:
        return self.root / "training_report.md"

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval_folder(self, preset: str) -> Path:
        # The name may come from a checkpoint or a data folder: one plain folder name, never a way out of RUN.
        if preset in ("", ".", "..") or Path(preset).name != preset:
            raise CheckpointError(f"preset name {preset!r} is not a plain folder name")
        return self.eval_root / preset

    def eval_files(self, preset: str) -> EvalFiles:
        return EvalFiles(self.eval_folder(preset))

    def checkpoint(self, which: str = "best") -> Path:
        """An existing checkpoint: "best" (best.pt, else last.pt), "last", or a name in checkpoints/ ("step-00000004")."""
        found = _find_checkpoint(self.checkpoints, which)
        if found is None:
            raise FileNotFoundError(
                f"no checkpoint in run folder {self.root} "
                f"(looked for {' / '.join(_checkpoint_names(which))} in {self.checkpoints})"
            )
        return found

    def resume_checkpoint(self) -> Path | None:
        """last.pt when the run has one (a re-run continues from it), else None."""
        return self.last if self.last.is_file() else None

    def write_checkpoint(self, payload: dict, best: bool = False) -> Path:
        """step-N.pt and last.pt (and best.pt), each written atomically; returns last.pt."""
        for path in [self.step_checkpoint(payload["step"]), self.last] + ([self.best] if best else []):
            save_checkpoint_file(payload, path)
        return self.last

    def sweep_temporaries(self) -> int:
        """Delete half-written files a killed run left (`.last.pt.tmp-*`, ...) in RUN and RUN/checkpoints; returns how many.

        eval/ is left alone: an evaluation may be writing there. Call it before the run writes anything.
        """
        n_removed = 0
        for folder in (self.root, self.checkpoints):
            for tmp in folder.glob(f".*{TMP_MARKER}*") if folder.is_dir() else ():
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    n_removed += 1
        return n_removed


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file as given, or a run folder's checkpoint (`RunDir.checkpoint(which)`).

    A checkpoints/ folder itself (holding last.pt) works too, as it always has.
    """
    path = Path(path)
    if path.is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = _find_checkpoint(folder, which)
    if found is None:
        raise FileNotFoundError(
            f"no checkpoint at {path} (looked for a file, or {' / '.join(_checkpoint_names(which))} in {folder})"
        )
    return found


def _checkpoint_names(which: str) -> list[str]:
    return ["best.pt", "last.pt"] if which == "best" else [f"{which.removesuffix('.pt')}.pt"]


def _find_checkpoint(folder: Path, which: str) -> Path | None:
    return next((folder / n for n in _checkpoint_names(which) if (folder / n).is_file()), None)


def save_checkpoint_file(payload: dict, path: str | Path) -> Path:
    """torch.save `payload` to `path` atomically (a crash leaves a dot-file, never a torn checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)
