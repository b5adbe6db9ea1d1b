"""Publish a built site atomically, writing only the files whose bytes changed.

``out_dir`` is a *symbolic link* to the current version, a directory beside it named
``.<name>.build-XXXXXXXX``. A build writes a new version there, then points a fresh link at it
and renames that link over ``out_dir`` (``rename(2)`` replaces it in one step), so a reader
always finds a complete site: the old one or the new one, never a mixture or nothing. The
versions before are kept a while (a reader may still be inside one); older ones are removed.
One build at a time per ``out_dir`` (an ``flock`` on ``.<name>.lock`` beside it). A first
build replaces an *empty* directory at ``out_dir``; any other existing file or directory there
is refused rather than deleted.

Writing only what changed: a :class:`Published` (what the last build of this process put in
which version) lets the next build *hard-link* each file whose bytes are the same from the
version it published into the new one (one ``link(2)``, no data written, the file's mtime and
inode kept, so a web server's ``ETag`` and ``Last-Modified`` stay too) and write only the
others. Without one (``upwatch build-page``: a new process), or when another process published
since, every file is written.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import UpwatchError

__all__ = ["BuildError", "BuildReport", "Published", "publish", "write_and_publish"]

_VERSION_MARK = ".build-"

#: Published versions kept beside the current one's link (the current one among them).
_KEEP_VERSIONS = 3


class BuildError(UpwatchError):
    """The site cannot be built or published where asked; the message says why."""


@dataclass(frozen=True)
class BuildReport:
    out_dir: Path
    version_dir: Path  # the directory ``out_dir`` now points to
    files: tuple[str, ...]  # paths relative to the site root, sorted
    sizes: dict[str, int]  # bytes per file
    #: Files written (their bytes new or changed); the others were linked from the version
    #: this process published last.
    written: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


@dataclass
class Published:
    """What this process published last: the version directory and each file's bytes."""

    out_dir: Path | None = None
    version: Path | None = None
    files: Mapping[str, bytes] | None = None


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    with open(out_dir.parent / f".{out_dir.name}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current(out_dir: Path) -> Path | None:
    """The version ``out_dir`` points to; None when nothing is there yet."""
    if out_dir.is_symlink():
        return out_dir.parent / os.readlink(out_dir)
    if not out_dir.exists():
        return None
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()  # an empty directory made for us: nothing to lose, nothing to show
        return None
    raise BuildError(
        f"{out_dir} exists and is not a site published by upwatch (a symbolic link to its "
        "current version); remove it or choose another output directory"
    )


def publish(version: Path, out_dir: Path) -> None:
    """Point ``out_dir`` at ``version`` (a directory beside it) in one rename; tidy up."""
    previous = current(out_dir)
    link = out_dir.parent / f".{out_dir.name}.link-{version.name}"
    os.symlink(version.name, link)
    try:
        os.replace(link, out_dir)
    except OSError:
        link.unlink(missing_ok=True)
        raise
    # A reader may still be walking a path into a version replaced a moment ago (a web server
    # under load, rebuilds back to back): the newest few stay, older ones go.
    prefix = f".{out_dir.name}{_VERSION_MARK}"
    versions = sorted(
        (old for old in out_dir.parent.iterdir()
         if old.name.startswith(prefix) and old.is_dir() and not old.is_symlink()),
        key=lambda old: old.stat().st_mtime_ns, reverse=True)
    keep = {version.name} | ({previous.name} if previous is not None else set())
    keep |= {old.name for old in versions[:_KEEP_VERSIONS]}
    for old in versions:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def _same_as(before: Published, out_dir: Path) -> tuple[Path | None, Mapping[str, bytes]]:
    """The version to link unchanged files from: the one this process published last, if
    ``out_dir`` still points to it (else another process published since: link nothing)."""
    if before.version is None or before.files is None or before.out_dir != out_dir:
        return None, {}
    try:
        if current(out_dir) != before.version or not before.version.is_dir():
            return None, {}
    except BuildError:
        return None, {}
    return before.version, before.files


def write_and_publish(files: Mapping[str, bytes], out_dir: Path,
                      before: Published | None = None, folders: Sequence[str] = ()
                      ) -> BuildReport:
    """Write ``files`` (site path → bytes) as a new version beside ``out_dir`` and publish it;
    ``before``: what this process published last (updated here), to link unchanged files
    from; ``folders``: made even when empty."""
    before = before if before is not None else Published()
    with _locked(out_dir):
        old, old_files = _same_as(before, out_dir)
        version = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{_VERSION_MARK}",
                                        dir=out_dir.parent))
        written = 0
        try:
            version.chmod(0o755)  # mkdtemp makes it private; a web server must read it
            for folder in sorted({os.path.dirname(rel) for rel in files} - {""} | set(folders)):
                (version / folder).mkdir(parents=True, exist_ok=True)
            for rel, blob in files.items():
                if old is not None and old_files.get(rel) == blob:
                    try:
                        os.link(old / rel, version / rel)
                        continue
                    except OSError:  # removed meanwhile, or a file system without links
                        pass
                (version / rel).write_bytes(blob)
                written += 1
            publish(version, out_dir)
        except BaseException:
            if not (out_dir.is_symlink() and os.readlink(out_dir) == version.name):
                shutil.rmtree(version, ignore_errors=True)
            raise
    before.out_dir, before.version, before.files = out_dir, version, dict(files)
    sizes = {rel: len(blob) for rel, blob in files.items()}
    return BuildReport(out_dir, version, tuple(sorted(sizes)), sizes, written)
