"""The listening test's files inside a run folder and the prepared test's manifest: one owner of both.

    files = ListeningFiles.of("runs/ladle")          # RUN/listening/...
    test = read_test(files)                          # the prepared test (None when none is)

Layout (docs/design.md, "Listening test"):

    RUN/listening/test.json              the prepared test: trials, stimuli (opaque ids), scale; written last
    RUN/listening/stimuli/{trial}/{condition}.wav   loudness-matched excerpts, 16-bit PCM
    RUN/listening/ratings.parquet        one row per rating: listener, excerpt, condition, rating, time
    RUN/listening/ratings.png            box plot of the ratings per condition
    RUN/listening/.lock                  held while ratings.parquet is rewritten

The server serves only the files a test.json names, looked up by their opaque stimulus id: no
path from a request ever reaches the filesystem.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from storage.atomic import write_json_atomic

TEST_FORMAT = "ladle-listening/1"
REFERENCE = "reference"  # the hidden copy of the lossless reference
LOSSY = "lossy"  # the untouched lossy input: the anchor
SCALES = {
    # the LadLe paper's scale: each stimulus against the lossy input, -5 much worse ... +5 much better
    "ladle": {"min": -5.0, "max": 5.0, "step": 0.5, "default": 0.0, "low": "much worse", "high": "much better"},
    # ITU-R BS.1534-3 (MUSHRA): 0 bad ... 100 excellent, against the labelled reference
    "mushra": {"min": 0.0, "max": 100.0, "step": 1.0, "default": 50.0, "low": "bad", "high": "excellent"},
}


@dataclass(frozen=True)
class ListeningFiles:
    """Every path the listening test reads or writes; all under RUN/listening/."""

    root: Path

    @classmethod
    def of(cls, run_dir: str | Path) -> ListeningFiles:
        from ladle_model.runs.folder import RunDir

        return cls(RunDir(run_dir).root / "listening")

    @property
    def test_json(self) -> Path:
        return self.root / "test.json"

    @property
    def stimuli(self) -> Path:
        return self.root / "stimuli"

    def stimulus(self, trial: str, condition: str) -> Path:
        return self.stimuli / trial / f"{condition}.wav"

    @property
    def ratings(self) -> Path:
        return self.root / "ratings.parquet"

    @property
    def boxplot(self) -> Path:
        return self.root / "ratings.png"

    @property
    def lock_dir(self) -> Path:
        return self.root  # storage.lock.data_lock keeps its lock file here (.lock)


@dataclass
class Stimulus:
    id: str  # opaque: what the page and the URLs see, so neither reveals the condition
    file: str  # relative to RUN/listening/
    loudness_lufs: float  # before matching (ITU-R BS.1770-4 integrated loudness)
    gain_db: float  # applied to reach the trial's common loudness


@dataclass
class Trial:
    excerpt: str  # "e01", ...: the trial's id, as ratings.parquet records it
    preset: str
    track_id: str
    title: str
    start_s: float
    duration_s: float
    stimuli: dict[str, Stimulus]  # condition -> the hidden stimulus
    labelled: dict[str, Stimulus]  # "reference" (and "lossy" on the ladle scale) -> the labelled copy
    metrics: dict[str, dict[str, float | None]] = field(
        default_factory=dict
    )  # condition -> LSD, SNR, ViSQOL vs the reference


@dataclass
class ListeningTest:
    key: str  # content key of everything the stimuli depend on
    scale: str
    sample_rate: int
    seed: str  # seeds the blind order (with the listener id)
    run_dir: str
    runs: dict[str, str]  # condition -> run folder, for the restored conditions
    conditions: list[str]
    trials: list[Trial]
    created_at: str = ""
    format: str = TEST_FORMAT

    @property
    def test_id(self) -> str:
        return self.key[:12]

    def trial(self, excerpt: str) -> Trial | None:
        return next((t for t in self.trials if t.excerpt == excerpt), None)

    def files_by_id(self) -> dict[str, str]:
        """Stimulus id -> file (relative to RUN/listening/): everything the server may serve."""
        out = {}
        for t in self.trials:
            for s in [*t.stimuli.values(), *t.labelled.values()]:
                out[s.id] = s.file
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ListeningTest:
        if d.get("format") != TEST_FORMAT:
            raise ValueError(f"not a {TEST_FORMAT} test (format {d.get('format')!r})")
        trials = [
            Trial(
                **{
                    **t,
                    "stimuli": {c: Stimulus(**s) for c, s in t["stimuli"].items()},
                    "labelled": {c: Stimulus(**s) for c, s in t["labelled"].items()},
                }
            )
            for t in d["trials"]
        ]
        return cls(**{**d, "trials": trials})


def write_test(files: ListeningFiles, test: ListeningTest) -> Path:
    write_json_atomic(files.test_json, test.to_dict())
    return files.test_json


def read_test(files: ListeningFiles) -> ListeningTest | None:
    try:
        return ListeningTest.from_dict(json.loads(files.test_json.read_text()))
    except FileNotFoundError:
        return None
