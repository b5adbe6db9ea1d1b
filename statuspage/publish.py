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

Taking over a retired version: a version older than the ones kept is removed when the next one
is published. When this process made it, the next version *is* that directory, renamed: a
:class:`Published` remembers which build each of its versions holds and, per file, since which
build its bytes are the same, so the files that did not change since the retired version was
built are already there, as the very inode the versions after it linked (no system call at all),
and only the others are put in; a file found missing from it (a clean-up of old files took
it) is written again. Without that, every unchanged file is linked and the retired version
removed: for 1,000 services, 4,000 links and 5,000 removals a minute.

A file that changed goes in the inode the retired version held it in, overwritten in place, when
no kept version shares it (one link); else, and for a file the retired version did not hold, in
a spare inode: a file of a retired version that no kept version shares and the new one will not
hold (moved in with ``rename(2)``, then overwritten). Making a file costs an inode; on the ext4
disks we measured, that is 0.3–1 ms a file, 10–25 times a move and an overwrite, and a rebuild
of 1,000 services writes a thousand files a minute (``services/*.json`` change every minute). A
version is retired only once ``_KEEP_VERSIONS`` newer ones exist; a reader still inside one
that old sees what a removed file would show it.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import UpwatchError

__all__ = ["BuildError", "BuildReport", "NewVersion", "Published", "publish"]

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
    #: Seconds spent writing and linking the files and publishing them (during a build, in a
    #: thread of its own while the build renders: :mod:`statuspage.writing`).
    write_s: float = 0.0
    #: Processes the pages were rendered in: more than one when forked children rendered
    #: some languages' pages (a build from nothing: :mod:`statuspage.forked`).
    processes: int = 1

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


@dataclass
class Published:
    """What this process published last: the version directory and each file's bytes."""

    out_dir: Path | None = None
    version: Path | None = None
    files: Mapping[str, bytes] | None = None
    #: The builds this process published to ``out_dir``, counted; each file of the last one:
    #: the build since which its bytes are the same.
    serial: int = 0
    same_since: Mapping[str, int] = field(default_factory=dict)
    #: The versions this process made that are still there, by name: the build each holds,
    #: and its files.
    held: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)


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


def _versions(out_dir: Path) -> list[Path]:
    """The versions beside ``out_dir``, the newest first."""
    prefix = f".{out_dir.name}{_VERSION_MARK}"
    return sorted(
        (old for old in out_dir.parent.iterdir()
         if old.name.startswith(prefix) and old.is_dir() and not old.is_symlink()),
        key=lambda old: old.stat().st_mtime_ns, reverse=True)


def _retiring(out_dir: Path) -> list[Path]:
    """The versions the next publish removes: all but the current one and the newest others,
    ``_KEEP_VERSIONS`` with the new one. A reader may still be walking a path into a version
    replaced a moment ago (a web server under load, rebuilds back to back)."""
    now = current(out_dir)  # BuildError: out_dir is not a site of ours
    versions = _versions(out_dir)
    keep = {old.name for old in versions[:_KEEP_VERSIONS - 1]}
    return [old for old in versions if old.name not in keep and old != now]


def publish(version: Path, out_dir: Path, retiring: Sequence[Path]) -> None:
    """Point ``out_dir`` at ``version`` (a directory beside it) in one rename, then remove the
    ``retiring`` versions (:func:`_retiring`'s, named before the new version was written)."""
    link = out_dir.parent / f".{out_dir.name}.link-{version.name}"
    os.symlink(version.name, link)
    try:
        os.replace(link, out_dir)
    except OSError:
        link.unlink(missing_ok=True)
        raise
    for old in retiring:
        shutil.rmtree(old, ignore_errors=True)


def _spare_files(versions: Iterable[Path]) -> Iterator[str]:
    """The regular files of ``versions`` no other version links to, lazily."""
    stack = [str(v) for v in versions]
    while stack:
        try:
            found = [(entry.path, entry.stat(follow_symlinks=False))
                     for entry in os.scandir(stack.pop())]
        except OSError:  # unreadable or gone: its files are simply not reused
            continue
        for path, st in found:
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                yield path


def _files_in(version: Path) -> frozenset[str]:
    """The regular files under ``version``, as paths relative to it. Anything else found there
    that a build never makes (a symbolic link, to a folder or a file) is removed, so that
    nothing is ever written through it."""
    found: set[str] = set()
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(f"{version}/{folder}"))
        except OSError:
            continue
        for entry in entries:
            rel = f"{folder}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append(rel + "/")
            elif entry.is_file(follow_symlinks=False):
                found.add(rel)
            else:
                with suppress(OSError):
                    os.unlink(entry.path)
    return frozenset(found)


def _unshared(paths: Iterable[str]) -> Iterator[str]:
    """Those of ``paths`` that are regular files no other version links to, lazily."""
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            yield path


def _overwrite(fd: int, blob: bytes) -> None:
    """Overwritten, not truncated first: a file truncated to nothing and written again costs
    four times as much on ext4."""
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, len(blob))
    finally:
        os.close(fd)


def _write(path: str, blob: bytes, spare: Iterator[str]) -> None:
    """Write ``blob`` at ``path``, in a spare file's inode when one is left (see the module's
    notes)."""
    for old in spare:
        try:
            os.rename(old, path)
        except OSError:  # gone meanwhile: try the next
            continue
        _overwrite(os.open(path, os.O_WRONLY), blob)
        return
    with open(path, "wb") as fh:
        fh.write(blob)


def _in_place(path: str, blob: bytes) -> bool:
    """Overwrite the file at ``path`` with ``blob`` if no other version links to it; False
    (and the file removed, if it was there) when that cannot be."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)  # a file, never what a link points to
    except OSError:
        return False
    if os.fstat(fd).st_nlink == 1:
        _overwrite(fd, blob)
        return True
    os.close(fd)
    os.unlink(path)  # shared with a version still kept: that one must stay as it is
    return False


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


class NewVersion:
    """A version being written beside ``out_dir``: its files go in one at a time
    (:meth:`add`), then :meth:`publish` points ``out_dir`` at it, or :meth:`discard` removes
    it. Holds the build lock (one build at a time per ``out_dir``) from its making to either.

    ``before``: what this process published last (updated on publishing), to link unchanged
    files from; ``folders``: made even when no file goes in them."""

    def __init__(self, out_dir: Path, before: Published | None = None,
                 folders: Sequence[str] = ()) -> None:
        self.out_dir, self.before = out_dir, before if before is not None else Published()
        self.files: dict[str, bytes] = {}
        self.written = 0
        self._busy_s = 0.0
        self._lock = open(out_dir.parent / f".{out_dir.name}.lock", "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            old, self._old_files = _same_as(self.before, out_dir)
            if old is None:  # another process published since, or none before: start over
                self.before.held.clear()
            self.serial = self.before.serial + 1
            self._old_since = self.before.same_since if old is not None else {}
            self.same_since: dict[str, int] = {}
            self._retiring = _retiring(out_dir)
            self.path = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{_VERSION_MARK}",
                                              dir=out_dir.parent))
        except BaseException:
            self._lock.close()
            raise
        self._here, self._there = f"{self.path}/", f"{old}/" if old is not None else None
        self._folders = {""}
        try:
            self._taken = self._take_over(old)
            self._spare = itertools.chain(self._gone(), _spare_files(self._retiring))
            self.path.chmod(0o755)  # mkdtemp makes it private; a web server must read it
            for folder in folders:
                self._folder(folder)
        except BaseException:
            self.discard()
            raise

    def _take_over(self, old: Path | None) -> tuple[int, frozenset[str]] | None:
        """Rename the newest retiring version this process made to :attr:`path` (replacing
        the empty directory made there); the build it holds and its files, or None."""
        if old is None:
            return None
        mine = [(self.before.held[v.name], v) for v in self._retiring
                if v.name in self.before.held]
        if not mine:
            return None
        (serial, files), version = max(mine, key=lambda found: found[0][0])
        os.rename(version, self.path)  # over an empty directory: allowed, and in one step
        self._retiring.remove(version)
        del self.before.held[version.name]
        # what is there still: a file removed meanwhile (a clean-up of old files in /tmp…)
        # is written again, not taken for there
        return serial, files & _files_in(self.path)

    def _gone(self) -> Iterator[str]:
        """The files of the version taken over that the version before did not hold, and
        this one does not so far: likely gone for good, spare (when no kept version links
        to them)."""
        if self._taken is None:
            return
        for rel in sorted(self._taken[1] - set(self._old_files)):
            if rel not in self.files:
                yield from _unshared((self._here + rel,))

    @property
    def links(self) -> bool:
        """Whether unchanged files are linked from the version this process published last
        (a rebuild), rather than every file written anew (a build from nothing)."""
        return self._there is not None

    def _folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(self._here + folder, exist_ok=True)
            while folder not in self._folders:
                self._folders.add(folder)
                folder = os.path.dirname(folder)

    def add(self, rel: str, blob: bytes) -> None:
        """Put ``blob`` at ``rel`` (a path in the site): left as it is in the version taken
        over, or linked from the version before, when it holds the same bytes; else written."""
        started = time.monotonic()
        try:
            self._add(rel, blob)
        finally:
            self._busy_s += time.monotonic() - started

    def _add(self, rel: str, blob: bytes) -> None:
        self.files[rel] = blob
        same = self._there is not None and self._old_files.get(rel) == blob
        since = self.same_since[rel] = self._old_since.get(rel, self.serial) if same \
            else self.serial
        taken = self._taken is not None and rel in self._taken[1]
        if taken:
            assert self._taken is not None
            if since <= self._taken[0]:  # the same bytes since the version taken over,
                return  # in its folder there
        self._folder(os.path.dirname(rel))
        path = self._here + rel
        if taken:
            assert self._taken is not None
            if not same and _in_place(path, blob):
                self.written += 1
                return
            with suppress(FileNotFoundError):
                os.unlink(path)
        elif self._taken is not None:  # whatever else is there (a link planted…) goes first
            with suppress(FileNotFoundError):
                os.unlink(path)
        if same and self._there is not None:
            try:
                os.link(self._there + rel, path)  # strings: a Path costs more
                return
            except OSError:  # removed meanwhile, or a file system without links
                pass
        _write(path, blob, self._spare)
        self.written += 1

    def _drop_stale(self) -> None:
        """Remove what the version taken over held that this one does not."""
        if self._taken is None:
            return
        folders = set()
        for rel in self._taken[1] - set(self.files):
            with suppress(FileNotFoundError):
                os.unlink(self._here + rel)
            folders.add(os.path.dirname(rel))
        for folder in sorted(folders - self._folders, key=len, reverse=True):
            while folder and folder not in self._folders:
                try:
                    os.rmdir(self._here + folder)
                except OSError:  # not empty
                    break
                folder = os.path.dirname(folder)

    def publish(self) -> BuildReport:
        """Point ``out_dir`` at this version, remove the retired ones, release the lock."""
        started = time.monotonic()
        try:
            self._drop_stale()
            os.utime(self.path)  # the newest version (a taken-over one kept its time)
            publish(self.path, self.out_dir, self._retiring)
        except BaseException:
            self.discard()
            raise
        self._lock.close()  # closing releases the flock
        before = self.before
        before.out_dir, before.version, before.files = self.out_dir, self.path, self.files
        before.serial, before.same_since = self.serial, self.same_since
        for retired in self._retiring:
            before.held.pop(retired.name, None)
        before.held[self.path.name] = (self.serial, frozenset(self.files))
        sizes = {rel: len(blob) for rel, blob in self.files.items()}
        return BuildReport(self.out_dir, self.path, tuple(sorted(sizes)), sizes, self.written,
                           self._busy_s + time.monotonic() - started)

    def discard(self) -> None:
        """Remove this version (unless ``out_dir`` already points to it); release the lock."""
        try:
            if not (self.out_dir.is_symlink() and os.readlink(self.out_dir) == self.path.name):
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._lock.close()

