"""Downloading data-set files: the cache folder, the mirror setting, atomic and checked downloads.

- Cache: files are kept under ``DL_HELPERS_DATA_DIR`` (default ``~/.cache/dl_helpers``), one
  folder per data set; a file found there is not downloaded again.
- Mirror: ``DL_HELPERS_DATA_MIRROR`` (or a loader's ``mirror=`` argument, which wins) replaces
  the public base URLs of every data-set download, for air-gapped clusters with an internal
  copy of the files. The mirror holds each data set's files under the data set's folder name,
  with the public file names: ``<mirror>/<folder>/<file>`` (see :data:`MIRROR_LAYOUT` in
  :mod:`dl_helpers.notebook`). Any URL scheme urllib reads works: ``http(s)://`` or
  ``file:///shared/mirror``.
- A download goes to a temporary file in the cache folder and takes its final name only after
  it arrived whole (Content-Length matched, checksum if one is known) and its content parsed;
  a truncated or corrupt download raises :class:`DownloadError` and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CACHE_ENV = "DL_HELPERS_DATA_DIR"
MIRROR_ENV = "DL_HELPERS_DATA_MIRROR"

T = TypeVar("T")

# What a damaged file raises while it is parsed (gzip, zip, tar, CSV, our own format checks).
PARSE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    StopIteration,
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
)


class DownloadError(OSError):
    """A download that failed, arrived incomplete, or is not the file it should be.

    An ``OSError``, so the offline policy's fall-back (``offline=None``) covers it."""


def data_dir() -> Path:
    d = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "dl_helpers"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def resolve_mirror(mirror: str | None = None, env=None) -> str | None:
    """The mirror's base URL: the argument if given (``""``: none), else the environment's."""
    if mirror is None:
        mirror = (os.environ if env is None else env).get(MIRROR_ENV)
    return mirror.rstrip("/") if mirror else None


def source_url(public_url: str, folder: str, filename: str, mirror: str | None = None) -> str:
    """Where to download ``filename`` of the data set ``folder`` from: the mirror, else public."""
    base = resolve_mirror(mirror)
    return f"{base}/{folder}/{filename}" if base else public_url


def _download_to(url: str, path: Path, timeout: float, sha256: str | None) -> None:
    digest = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(path, "wb") as f:
            expected = r.headers.get("Content-Length") if hasattr(r, "headers") else None
            while chunk := r.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
                got += len(chunk)
    except http.client.HTTPException as e:  # a broken HTTP exchange is not an OSError
        raise DownloadError(f"{url}: download failed: {e!r}") from e
    if expected is not None and got != int(expected):
        raise DownloadError(
            f"{url}: download truncated: got {got} of {int(expected)} bytes (Content-Length)"
        )
    if sha256 is not None and digest.hexdigest() != sha256:
        raise DownloadError(
            f"{url}: checksum mismatch: sha256 {digest.hexdigest()}, expected {sha256}"
        )


def fetch(
    url: str,
    dest: Path,
    read: Callable[[Path], T],
    what: str,
    timeout: float = 60.0,
    sha256: str | None = None,
) -> T:
    """``read(dest)``, downloading ``url`` to ``dest`` first if it is not cached.

    A new download is read (parsed) under a temporary name and renamed to ``dest`` only if that
    succeeds; otherwise :class:`DownloadError` names the URL and what the file should be
    (``what``, e.g. "a gzip IDX file"), and no file is left.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            return read(dest)
        except PARSE_ERRORS as e:
            raise DownloadError(
                f"cached file {dest} is not {what} ({e!r}); delete it to download it again"
            ) from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        _download_to(url, tmp, timeout, sha256)
        try:
            value = read(tmp)
        except PARSE_ERRORS as e:
            raise DownloadError(f"{url}: the downloaded file is not {what}: {e!r}") from e
        os.replace(tmp, dest)
        return value
    finally:
        tmp.unlink(missing_ok=True)


def safe_extract(tar: tarfile.TarFile, dest: Path, members=None) -> None:
    """Extract a tar without letting member paths escape ``dest`` (links are skipped too)."""
    dest = Path(dest).resolve()
    chosen = []
    for m in members if members is not None else tar.getmembers():
        target = (dest / m.name).resolve()
        if not str(target).startswith(str(dest) + os.sep) or m.issym() or m.islnk():
            continue
        chosen.append(m)
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: also refuse device files etc.
        tar.extractall(dest, members=chosen, filter="data")
    else:
        tar.extractall(dest, members=chosen)


def fetch_extracted(
    url: str,
    folder: Path,
    top: str,
    check: Callable[[Path], None],
    what: str,
    keep=lambda member: True,
    timeout: float = 300.0,
) -> Path:
    """The folder ``folder/top`` extracted from the tar archive at ``url``, downloaded if missing.

    The archive is downloaded to a temporary file, the members ``keep`` accepts are extracted
    into a temporary folder, ``check(extracted/top)`` must pass (it raises on missing content),
    then the folder is renamed to ``folder/top`` and the archive deleted. A failure at any step
    raises :class:`DownloadError` and leaves neither archive nor folder behind.
    """
    final = Path(folder) / top
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{top}.", suffix=".part", dir=final.parent))
    try:
        archive = work / "archive"
        _download_to(url, archive, timeout, None)
        out = work / "extracted"
        try:
            with tarfile.open(archive) as t:
                safe_extract(t, out, [m for m in t.getmembers() if keep(m)])
            check(out / top)
        except PARSE_ERRORS as e:
            raise DownloadError(f"{url}: the downloaded file is not {what}: {e!r}") from e
        try:
            (out / top).rename(final)
        except OSError:  # extracted concurrently by another process: theirs is as good
            if not final.is_dir():
                raise
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
