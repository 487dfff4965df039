"""Local paths or object storage (`s3://bucket/prefix`, any fsspec URL) for sources, data and runs.

    with local_mirror("s3://corpus/data", push=True, exclude=("datasets/*/*.tar",)) as data_dir:
        ...                                           # work on local files; pushed back on success
    fs, root = filesystem("s3://corpus/data")
    register_webdataset_schemes()                     # webdataset can now read s3:// shards directly

Codecs and soundfile need local files, so a flow works in a local mirror of a remote folder
(`mirror_folder(url)`, under LADLE_CACHE_DIR) and syncs it both ways (`pull`, `push`, both through
`local_mirror`); only files missing on the other side, or of another size, move. Training reads
shards straight from the bucket.

Endpoint and credentials come from the environment (AWS_ENDPOINT_URL or LADLE_S3_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or an AWS profile); they are passed
to s3fs and never logged.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec

from storage.atomic import TMP_MARKER, atomic_path
from storage.lock import LOCK_NAME, data_lock

COMMIT_MARKERS = ("manifest.json",)  # uploaded after everything else in their folder
# Files rewritten in place, whose size may not change when their content does (a retitled track's row): a sync
# always moves them. Everything else the pipeline writes once under a content-keyed name.
REWRITTEN_IN_PLACE = ("catalog/*",)


def is_remote(location: str | Path) -> bool:
    text = str(location)
    return "://" in text and not text.startswith("file://")


def storage_options(url: str) -> dict:
    """fsspec options for `url`; for S3 the endpoint from the environment (credentials s3fs reads itself)."""
    if url.startswith(("s3://", "s3a://")):
        endpoint = os.environ.get("LADLE_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    return {}


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = fsspec.core.url_to_fs(url, **storage_options(url))
    return fs, root.rstrip("/")


def exists(location: str | Path) -> bool:
    """Whether a local path or a URL names a file or a folder (a prefix with objects under it)."""
    if is_remote(location):
        remote, root = filesystem(str(location))
        return remote.exists(root)
    return Path(location).exists()


def join(location: str | Path, *parts: str) -> str:
    """Join path parts onto a local path or a URL."""
    if is_remote(location):
        return "/".join([str(location).rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(location).joinpath(*parts))


def mirror_folder(url: str) -> Path:
    """The local working copy of a remote folder (stable per URL)."""
    cache = Path(os.environ.get("LADLE_CACHE_DIR", Path.home() / ".cache" / "ladle"))
    return cache / "mirror" / hashlib.sha256(url.encode()).hexdigest()[:16]


def _excluded(relative: str, exclude: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in exclude)


def contained_path(folder: Path, relative: str) -> Path | None:
    """`folder / relative` when it stays inside `folder` (no `..` or absolute escape), else None.

    Names that come from outside (object keys, archive members, names in a sheet) go through this
    before anything is written under them.
    """
    root = folder.resolve()
    target = (root / relative).resolve()
    return target if target != root and target.is_relative_to(root) else None


def pull(
    url: str, local: Path, exclude: tuple[str, ...] = (), refused: list[str] | None = None, force: bool = False
) -> list[str]:
    """Download files under `url` that `local` lacks or has at another size, every REWRITTEN_IN_PLACE one, and with
    `force` every file; return their relative paths.

    A key that would land outside `local` (`a/../../x`) is never written: it is skipped and appended
    to `refused` (the full URL), for the caller to quarantine.
    """
    fs, root = filesystem(url)
    if not fs.exists(root):
        return []
    pulled = []
    for remote_path, info in sorted(fs.find(root, detail=True).items()):
        relative = remote_path[len(root) :].lstrip("/")
        if not relative or _excluded(relative, exclude):
            continue
        target = contained_path(local, relative)
        if target is None:
            if refused is not None:
                refused.append(f"{url.rstrip('/')}/{relative}")
            continue
        same = target.is_file() and target.stat().st_size == info.get("size")
        if same and not force and not _excluded(relative, REWRITTEN_IN_PLACE):
            continue
        with atomic_path(target) as tmp:
            fs.get_file(remote_path, str(tmp))
        pulled.append(relative)
    return pulled


def push(local: Path, url: str, exclude: tuple[str, ...] = (LOCK_NAME,), force: bool = False) -> list[str]:
    """Upload files under `local` that `url` lacks or has at another size, every REWRITTEN_IN_PLACE one, and with
    `force` every file, commit markers last; return them in order."""
    fs, root = filesystem(url)
    remote_sizes = {}
    if fs.exists(root):
        remote_sizes = {p[len(root) :].lstrip("/"): i.get("size") for p, i in fs.find(root, detail=True).items()}
    files = [p for p in local.rglob("*") if p.is_file() and TMP_MARKER not in p.name]
    files.sort(key=lambda p: (p.name in COMMIT_MARKERS, str(p)))
    pushed = []
    for path in files:
        relative = path.relative_to(local).as_posix()
        if _excluded(relative, exclude):
            continue
        same = remote_sizes.get(relative) == path.stat().st_size
        if same and not force and not _excluded(relative, REWRITTEN_IN_PLACE):
            continue
        fs.put_file(str(path), f"{root}/{relative}")  # an S3 PUT is atomic: the object appears whole
        pushed.append(relative)
    return pushed


_pull, _push = pull, push  # local_mirror's flags of the same names shadow them


@contextlib.contextmanager
def local_mirror(
    location: str | Path,
    *,
    pull: bool = True,
    push: bool = False,
    push_on_error: bool = False,
    exclude: tuple[str, ...] = (),
    lock_wait_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    refused: list[str] | None = None,
) -> Iterator[Path]:
    """A local folder to work in for `location`: the path itself, or the synced mirror of a URL.

    For a URL: files matching no `exclude` pattern are pulled first (when `pull`); on success (or on
    error too, with `push_on_error`) the mirror is pushed back (when `push`), commit markers last,
    and the local copies of excluded files are deleted afterwards: they live in the bucket. With
    `lock_wait_seconds` the folder's data lock is held from before the pull until after the push.
    The lock file itself never travels. Keys that would escape the mirror go to `refused` (see `pull`).
    """
    remote = is_remote(location)
    folder = mirror_folder(str(location)) if remote else Path(location)
    say = log or (lambda message: None)
    lock = (
        data_lock(folder, wait_seconds=lock_wait_seconds) if lock_wait_seconds is not None else contextlib.nullcontext()
    )
    with lock:
        if not remote:
            yield folder
            return
        url = str(location)
        folder.mkdir(parents=True, exist_ok=True)
        if pull:
            say(f"pulled {len(_pull(url, folder, exclude=(*exclude, LOCK_NAME), refused=refused))} files of {url}")
        try:
            yield folder
        except BaseException:
            if push and push_on_error:
                say(f"pushed {len(_push(folder, url))} files to {url}")
            raise
        if push:
            say(f"pushed {len(_push(folder, url))} files to {url}")
            for path in [p for p in folder.rglob("*") if p.is_file()]:
                if _excluded(path.relative_to(folder).as_posix(), exclude):
                    path.unlink()  # in the bucket now; keeps the mirror small


@functools.lru_cache(maxsize=1024)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Size and mtime are in the memo's key only, so a file changed in place is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a local file's bytes (memoised within a process while the file is unchanged)."""
    stat = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def open_file(location: str | Path, mode: str = "rb"):
    """Open a local path or a URL (a file object; use as a context manager)."""
    if is_remote(location):
        return fsspec.open(str(location), mode, **storage_options(str(location))).open()
    return open(location, mode)


def _gopen_fsspec(url: str, mode: str = "rb", bufsize: int = 8192, **kw):
    return open_file(url, mode)


def register_webdataset_schemes() -> None:
    """Let stock webdataset open s3:// (and other fsspec) shard URLs through fsspec."""
    from webdataset.gopen import gopen_schemes

    for scheme in ("s3", "s3a", "gcs", "az", "abfs", "memory"):
        gopen_schemes.setdefault(scheme, _gopen_fsspec)
