"""The soak's generated library: short tracks, hostile names, bad files of every kind, CUE images.

    library = write_soak_library(Path("/tmp/soak/library"), n_tracks=2000, seed=0)
    library.good       # {track_id: [paths]}: what must end up in the dataset, each id exactly once
    library.bad        # {path: kind}: what must be quarantined with a reason

Everything is drawn from `seed`, so the same seed writes the same bytes. Of the `n_tracks` audio
files, about 5 % are bad (every kind issue 13 lists, round-robin), about 1 % are duplicates of good
ones (another name or container), and a few good ones carry hostile or 255-byte names. On top come a
few whole-disc images with CUE sheets (split by the build into tracks under DATA/discs/) and broken
sheets, plus things that are not files at all (a FIFO and a folder named .flac, a folder symlink
loop) that must never become tracks. Expected track ids are computed here from the PCM we generate,
with FLAC's STREAMINFO MD5 definition, independently of the ingest code.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

# Kinds of bad file, each with a regular expression its quarantine reason must match (issue 13).
BAD_KINDS = {
    "truncated_wav": r"truncat",
    "truncated_flac": r"truncat|short|decod",
    "corrupt_flac": r".",
    "text_flac": r".",
    "zero_byte": r"empty",
    "silent": r"silen",
    "one_sample": r"short",
    "symlink_loop": r"symlink|symbolic|loop",
    "unreadable": r"unreadable|permission|denied|read",
    "broken_cue": r".",
}
# Things that must never become tracks; whether they are also reported is noted, not required.
NOT_TRACKS = ("fifo", "folder_named_flac", "folder_symlink_loop")
ODD_NAMES = (
    "-rf --no-preserve-root",
    "quote ' and \" and `tick`",
    "$(echo pwned) ; rm -rf x &",
    "new\nline",
    "tab\there",
    unicodedata.normalize("NFD", "émoji 🎵 ünïcödé NFD"),
    "back\\slash",
    "percent %s %n {} {0}",
    "v1.0.final",
    "日本語のタイトル",
    "RTL \u202eoverride",
    "* ? [glob] chars",
    "  leading and trailing spaces  ",
)
CD_FRAME = 588  # stereo samples per CD frame (75 a second)


@dataclass
class SoakLibrary:
    root: Path
    good: dict[str, list[str]] = field(default_factory=dict)  # track id -> every path holding that audio
    bad: dict[str, str] = field(default_factory=dict)  # path -> kind (a key of BAD_KINDS)
    not_tracks: dict[str, str] = field(default_factory=dict)  # path -> kind (one of NOT_TRACKS)
    good_cues: list[str] = field(default_factory=list)
    disc_track_ids: list[str] = field(default_factory=list)  # ids of the tracks the good CUE images split into
    notes: list[str] = field(default_factory=list)

    @property
    def n_audio_files(self) -> int:
        return sum(len(p) for p in self.good.values()) + sum(k != "broken_cue" for k in self.bad.values())

    def save(self, path: Path) -> None:
        record = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        Path(path).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> SoakLibrary:
        record = json.loads(Path(path).read_text())
        return cls(**{**record, "root": Path(record["root"])})

    def duplicates(self) -> set[str]:
        """Paths expected in the duplicates table: every path of an id but the first (by path)."""
        return {p for paths in self.good.values() for p in sorted(paths)[1:]}


def flac_md5(pcm: np.ndarray, bits: int) -> str:
    """FLAC's STREAMINFO MD5 of int PCM (T, C): interleaved little-endian samples at their own width."""
    width = (bits + 7) // 8
    raw = np.ascontiguousarray(pcm, dtype="<i4").view(np.uint8).reshape(-1, 4)[:, :width]
    return hashlib.md5(raw.tobytes()).hexdigest()


def expected_track_id(pcm: np.ndarray, bits: int, sample_rate: int) -> str:
    from storage.ingest import track_id_for  # the id's definition is the ingest's contract

    return track_id_for(flac_md5(pcm, bits), sample_rate, pcm.shape[1])


def tone_noise_pcm(rng: np.random.Generator, n_frames: int, sample_rate: int, channels: int, bits: int) -> np.ndarray:
    """(T, C) int32 PCM: two or three tones and a little noise, faded in and out, never silent."""
    t = np.arange(n_frames) / sample_rate
    columns = []
    for _ in range(channels):
        x = sum(
            rng.uniform(0.08, 0.25) * np.sin(2 * np.pi * rng.uniform(80, 4000) * t + rng.uniform(0, 6.3))
            for _ in range(int(rng.integers(2, 4)))
        )
        columns.append(x + 0.02 * rng.standard_normal(n_frames))
    fade = np.minimum(1.0, np.minimum(np.arange(n_frames), np.arange(n_frames)[::-1]) / (0.01 * sample_rate) + 0.05)
    pcm = np.stack(columns, axis=1) * fade[:, None]
    return np.round(pcm * (2 ** (bits - 1) - 1)).astype(np.int32)


def write_pcm(path: Path, pcm: np.ndarray, sample_rate: int, bits: int) -> None:
    """Write int PCM exactly (FLAC or WAV by extension, upper case too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    data = pcm.astype(np.int16) if bits == 16 else (pcm << (32 - bits)).astype(np.int32)
    with open(path, "wb") as f:  # a file object: soundfile would read an odd name's characters as a format
        sf.write(f, data, sample_rate, subtype=f"PCM_{bits}", format=fmt)


def _good_track(rng: np.random.Generator) -> tuple[np.ndarray, int, int, str]:
    """PCM, rate, bits and extension of one good track of 1-3 s."""
    sample_rate = int(rng.choice([44100, 44100, 44100, 48000, 22050]))
    channels = 1 if rng.random() < 0.1 else 2
    bits = 24 if rng.random() < 0.15 else 16
    ext = ".wav" if rng.random() < 0.3 else ".flac"
    n_frames = int(rng.uniform(1.0, 3.0) * sample_rate)
    return tone_noise_pcm(rng, n_frames, sample_rate, channels, bits), sample_rate, bits, ext


def _write_bad(path_stem: Path, kind: str, rng: np.random.Generator, lib: SoakLibrary) -> None:
    """One bad file (two for a symlink loop) of `kind`, recorded in `lib.bad`."""
    pcm = tone_noise_pcm(rng, 44100 + int(rng.integers(0, 44100)), 44100, 2, 16)
    paths = [path_stem.with_suffix(".flac")]
    if kind == "truncated_wav":  # the header still declares the full data size
        paths = [path_stem.with_suffix(".wav")]
        write_pcm(paths[0], pcm, 44100, 16)
        paths[0].write_bytes(paths[0].read_bytes()[: int(paths[0].stat().st_size * rng.uniform(0.3, 0.8))])
    elif kind == "truncated_flac":
        write_pcm(paths[0], pcm, 44100, 16)
        paths[0].write_bytes(paths[0].read_bytes()[: int(paths[0].stat().st_size * rng.uniform(0.3, 0.8))])
    elif kind == "corrupt_flac":  # garbage over a stretch of frames; STREAMINFO and its MD5 intact
        write_pcm(paths[0], pcm, 44100, 16)
        data = bytearray(paths[0].read_bytes())
        start = int(len(data) * rng.uniform(0.3, 0.6))
        data[start : start + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        paths[0].write_bytes(bytes(data))
    elif kind == "text_flac":
        paths[0].write_text("This is not audio, it only has the name of a FLAC file.\n" * int(rng.integers(1, 100)))
    elif kind == "zero_byte":
        paths = [path_stem.with_suffix(".wav" if rng.random() < 0.5 else ".flac")]
        paths[0].write_bytes(b"")
    elif kind == "silent":
        write_pcm(paths[0], np.zeros_like(pcm), 44100, 16)
    elif kind == "one_sample":
        paths = [path_stem.with_suffix(".wav" if rng.random() < 0.5 else ".flac")]
        write_pcm(paths[0], pcm[:1], 44100, 16)
    elif kind == "symlink_loop":
        paths = [path_stem.with_name(path_stem.name + "-a.flac"), path_stem.with_name(path_stem.name + "-b.flac")]
        paths[0].symlink_to(paths[1].name)
        paths[1].symlink_to(paths[0].name)
    elif kind == "unreadable":
        write_pcm(paths[0], pcm, 44100, 16)
        paths[0].chmod(0)
        if os.geteuid() == 0:  # permission bits do not stop root: this file is a good track then
            lib.good.setdefault(expected_track_id(pcm, 16, 44100), []).append(str(paths[0]))
            return
    for path in paths:
        lib.bad[str(path)] = kind


def _write_discs(
    folder: Path, n_discs: int, rng: np.random.Generator, lib: SoakLibrary, with_broken: bool = True
) -> None:
    """`n_discs` good disc images (3 tracks, INDEX 01 only, so each split is exactly its track) + 3 broken sheets."""
    for d in range(n_discs):
        disc = folder / f"disc {d:02d} – Soak Ensemble"
        tracks = [tone_noise_pcm(rng, int(rng.integers(75, 150)) * CD_FRAME, 44100, 2, 16) for _ in range(3)]
        image = disc / ("image.flac" if d % 2 == 0 else "image.wav")
        write_pcm(image, np.concatenate(tracks), 44100, 16)
        lines = ['PERFORMER "Soak Ensemble"', f'TITLE "Soak disc {d} – «ünïcode»"', f'FILE "{image.name}" WAVE']
        start_frames = 0
        for k, pcm in enumerate(tracks, start=1):
            mm, ss, ff = start_frames // 4500, start_frames // 75 % 60, start_frames % 75
            lines += [
                f"  TRACK {k:02d} AUDIO",
                f'    TITLE "Track {k} of disc {d}"',
                f"    INDEX 01 {mm:02d}:{ss:02d}:{ff:02d}",
            ]
            start_frames += len(pcm) // CD_FRAME
            lib.disc_track_ids.append(expected_track_id(pcm, 16, 44100))
            lib.good.setdefault(lib.disc_track_ids[-1], [])  # its path is under DATA/discs/, known after the build
        (disc / "disc.cue").write_text("\n".join(lines) + "\n", encoding="utf-8")
        lib.good_cues.append(str(disc / "disc.cue"))
    broken = {
        "index past the end": 'FILE "image.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 99:00:00\n',
        "no FILE command": "  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n",
        "missing image": 'FILE "not here.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n',
    }
    for name, sheet in broken.items() if with_broken else ():
        (folder / f"broken – {name}").mkdir(parents=True)
        if "image.wav" in sheet:
            write_pcm(
                folder / f"broken – {name}" / "image.wav", tone_noise_pcm(rng, 100 * CD_FRAME, 44100, 2, 16), 44100, 16
            )
        (folder / f"broken – {name}" / "disc.cue").write_text(sheet)
        lib.bad[str(folder / f"broken – {name}" / "disc.cue")] = "broken_cue"


def write_soak_library(root: Path, n_tracks: int = 2000, seed: int = 0, leave_out: tuple[str, ...] = ()) -> SoakLibrary:
    """Write the library under `root` (which must not exist yet) and return what a build must make of it.

    `leave_out` names kinds (of BAD_KINDS or NOT_TRACKS) not to write, to soak the rest while one is a known bug.
    """
    root = Path(root).absolute()
    root.mkdir(parents=True)
    lib = SoakLibrary(root)
    rng = np.random.default_rng(seed)
    kinds = [k for k in BAD_KINDS if k != "broken_cue" and k not in leave_out]
    n_bad = max(len(kinds), round(0.05 * n_tracks))
    n_duplicates = max(2, round(0.01 * n_tracks))
    n_good = n_tracks - n_bad - n_duplicates
    if n_good < len(ODD_NAMES) + 2:
        raise ValueError(f"--tracks {n_tracks} is too few: at least {len(ODD_NAMES) + 2 + n_bad + n_duplicates} needed")
    written = []  # (pcm, rate, bits, path) of good files, for duplicates
    for i in range(n_good):
        pcm, sample_rate, bits, ext = _good_track(rng)
        folder = root / f"artist {i // 100:02d}" / f"album {i // 10 % 10}"
        if i < len(ODD_NAMES):
            name = ODD_NAMES[i] + (".FLAC" if i == 8 else ext)
        elif i < len(ODD_NAMES) + 2:  # 255 bytes: the longest name a Linux filesystem takes
            stem = "L" * 240 if i % 2 else "é" * 120
            name = stem + "x" * (255 - len((stem + ext).encode())) + ext
        else:
            name = f"{i:05d} track {i}{ext}"
        path = folder / name
        write_pcm(path, pcm, sample_rate, bits)
        lib.good.setdefault(expected_track_id(pcm, bits, sample_rate), []).append(str(path))
        written.append((pcm, sample_rate, bits, path))
    for j in range(n_duplicates):  # the same audio under another name, every other one in the other container
        pcm, sample_rate, bits, original = written[int(rng.integers(len(ODD_NAMES), len(written)))]
        ext = original.suffix if j % 2 else (".wav" if original.suffix == ".flac" else ".flac")
        path = root / "duplicates" / f"copy {j:03d} of {original.stem[:40]}{ext}"
        write_pcm(path, pcm, sample_rate, bits)
        lib.good[expected_track_id(pcm, bits, sample_rate)].append(str(path))
    (root / "bad").mkdir()
    for j in range(n_bad):
        _write_bad(root / "bad" / f"{j:04d} {kinds[j % len(kinds)]}", kinds[j % len(kinds)], rng, lib)
    if os.geteuid() == 0:
        lib.notes.append("running as root: chmod 000 does not stop reads, so 'unreadable' files are good tracks here")
    _write_discs(root / "discs", max(1, n_tracks // 500), rng, lib, with_broken="broken_cue" not in leave_out)

    if "fifo" not in leave_out:
        os.mkfifo(root / "bad" / "a fifo.flac")  # opening it for reading would block forever
        lib.not_tracks[str(root / "bad" / "a fifo.flac")] = "fifo"
    inside = root / "bad" / "a folder.flac" / "inside.flac"  # the folder is not a file; what it holds is
    pcm, sample_rate, bits, _ = _good_track(rng)
    if "folder_named_flac" not in leave_out:
        write_pcm(inside, pcm, sample_rate, bits)
        lib.good.setdefault(expected_track_id(pcm, bits, sample_rate), []).append(str(inside))
        lib.not_tracks[str(inside.parent)] = "folder_named_flac"
    if "folder_symlink_loop" not in leave_out:
        (root / "bad" / "loop").symlink_to(".", target_is_directory=True)
        lib.not_tracks[str(root / "bad" / "loop")] = "folder_symlink_loop"
    return lib


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file under `root` (symlinks and FIFOs not followed): to prove sources untouched."""
    digests = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                with open(path, "rb") as f:
                    digests[str(path)] = hashlib.file_digest(f, "sha256").hexdigest()
            except PermissionError:
                digests[str(path)] = "unreadable"
    return digests
