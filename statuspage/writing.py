"""Write a new version of the site in a thread of its own while the build renders.

Making a file can wait on the disk (0.3–1 ms a file on some ext4 disks we measured, while the
block that records free inodes is being written back), and a build from nothing of 1,000
services makes 5,000. :func:`writing` opens a :class:`~statuspage.publish.NewVersion` and hands
each file the build renders to a thread that adds it, so the disk works while the next files
are rendered; the build renders the per-service files first
(:func:`statuspage.render.render_files`), so that the thread has most of them while the pages
of the five languages are rendered.

While the thread runs, the interpreter switches threads every 0.1 ms instead of every 5: the
thread needs the interpreter for a moment after each system call, and waiting up to 5 ms for it
each time made writing in a thread slower than writing in line.

The thread starts with the first file, not before: a build from nothing that renders some
languages in child processes forks them first (:mod:`statuspage.forked`), and a process is
forked only while it has no other thread.

A rebuild makes almost no file (it links what did not change and takes over the files of the
version it retires, :mod:`statuspage.publish`); its calls are short, and in a thread each
waited for the interpreter longer than it took: a rebuild writes in line.

A file the thread cannot write (no space left, no permission) stops it; the error is raised to
the build at its next file or at the end, and the version is removed, as when the build itself
fails. Nothing is published unless every file was written.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from statuspage.publish import BuildReport, NewVersion, Published

__all__ = ["SWITCH_INTERVAL_S", "Writer", "writing"]

#: The interpreter's thread switch interval while a writer thread runs (its default: 5 ms).
SWITCH_INTERVAL_S = 0.0001

_switching = threading.Lock()
_writers = 0
_interval_before = 0.0


def _fast_switching(on: bool) -> None:
    """Count the writers running; the first sets the short interval, the last puts it back."""
    global _writers, _interval_before
    with _switching:
        if on:
            if _writers == 0:
                _interval_before = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL_S)
            _writers += 1
        else:
            _writers -= 1
            if _writers == 0:
                sys.setswitchinterval(_interval_before)


class Writer:
    """Adds the files it is given to ``version``, in order: in a thread of its own when the
    version makes its files anew (a build from nothing), in line when it links the unchanged
    ones from the version before (a rebuild: links, and files taken over from a retired
    version, cost a system call or two each, and a thread waited for the interpreter after
    each call longer than the calls took)."""

    def __init__(self, version: NewVersion, threaded: bool | None = None) -> None:
        self.version = version
        self.report: BuildReport | None = None
        self.threaded = not version.links if threaded is None else threaded
        self._queue: queue.SimpleQueue[tuple[str, str | bytes] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None  # started with the first file

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="upwatch-site-writer",
                                        daemon=True)
        _fast_switching(True)
        self._thread.start()

    def put(self, rel: str, content: str | bytes) -> None:
        """Hand over one file (text is written as UTF-8); raises what stopped the thread."""
        if self._error is not None:
            raise self._error
        if not self.threaded:
            self.version.add(rel, content.encode() if isinstance(content, str) else content)
            return
        if self._thread is None:
            self._start()
        self._queue.put((rel, content))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # stopped: drain what the build still hands over
            rel, content = item
            try:
                self.version.add(rel, content.encode() if isinstance(content, str) else content)
            except BaseException as err:  # noqa: BLE001 - raised in the build's thread
                self._error = err

    def close(self) -> None:
        """Wait for every file handed over; raise what stopped the thread, if anything."""
        if self._thread is None:  # in line, or no file at all
            return
        self._queue.put(None)
        self._thread.join()
        _fast_switching(False)
        if self._error is not None:
            raise self._error


@contextmanager
def writing(out_dir: Path, before: Published | None = None, folders: Sequence[str] = (),
            threaded: bool | None = None) -> Iterator[Writer]:
    """A :class:`Writer` for a new version beside ``out_dir``, published when the block ends
    (``writer.report`` then says what was published) and removed if it raises. ``threaded``:
    by default, when the version makes its files anew."""
    version = NewVersion(out_dir, before, folders)
    try:
        writer = Writer(version, threaded)
    except BaseException:
        version.discard()
        raise
    try:
        yield writer
    except BaseException:
        with suppress(Exception):  # the build's own error is the one to raise
            writer.close()
        version.discard()
        raise
    try:
        writer.close()
    except BaseException:
        version.discard()
        raise
    writer.report = version.publish()
