"""Local paths or object storage (`s3://bucket/prefix`, any fsspec URL) for sources, data and runs.

    fs, root = filesystem("s3://corpus/data")
    pull("s3://corpus/data", mirror, exclude=("datasets/*/*.tar",))
    push(mirror, "s3://corpus/data")                  # manifests last: they mark a dataset complete
    register_webdataset_schemes()                     # webdataset can now read s3:// shards directly

Codecs and soundfile need local files, so a build works in a local mirror of a remote folder
(`mirror_folder(url)`, under LADLE_CACHE_DIR) and syncs it both ways; only files missing on the
other side, or of another size, move. Training reads shards straight from the bucket.

Endpoint and credentials come from the environment (AWS_ENDPOINT_URL or LADLE_S3_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or an AWS profile); they are passed
to s3fs and never logged.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
from pathlib import Path

import fsspec

from storage.atomic import TMP_MARKER, atomic_path

COMMIT_MARKERS = ("manifest.json",)  # uploaded after everything else in their folder


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


def pull(url: str, local: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """Download files under `url` that `local` lacks (or has at another size); return their relative paths."""
    fs, root = filesystem(url)
    if not fs.exists(root):
        return []
    pulled = []
    for remote_path, info in sorted(fs.find(root, detail=True).items()):
        relative = remote_path[len(root) :].lstrip("/")
        if not relative or _excluded(relative, exclude):
            continue
        target = local / relative
        if target.is_file() and target.stat().st_size == info.get("size"):
            continue
        with atomic_path(target) as tmp:
            fs.get_file(remote_path, str(tmp))
        pulled.append(relative)
    return pulled


def push(local: Path, url: str, exclude: tuple[str, ...] = (".lock",)) -> list[str]:
    """Upload files under `local` that `url` lacks (or has at another size), commit markers last; return them in order."""
    fs, root = filesystem(url)
    remote_sizes = {}
    if fs.exists(root):
        remote_sizes = {p[len(root) :].lstrip("/"): i.get("size") for p, i in fs.find(root, detail=True).items()}
    files = [p for p in local.rglob("*") if p.is_file() and TMP_MARKER not in p.name]
    files.sort(key=lambda p: (p.name in COMMIT_MARKERS, str(p)))
    pushed = []
    for path in files:
        relative = path.relative_to(local).as_posix()
        if _excluded(relative, exclude) or remote_sizes.get(relative) == path.stat().st_size:
            continue
        fs.put_file(str(path), f"{root}/{relative}")  # an S3 PUT is atomic: the object appears whole
        pushed.append(relative)
    return pushed


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
