"""Render some languages' pages in child processes: a build from nothing on several cores.

A build from nothing renders every service's pieces in five languages: for 1,000 services that
is 2.3 s of one core and 35 MB of pages (``bench/page.py``). The pages of one language depend
on the gathered data and on the keys the build works out first, and not at all on the other
languages. So once those are worked out, :class:`Children` forks a child per group of
languages: fork shares the parent's memory, nothing is copied or encoded to hand the data
over. Each child renders its languages' pages and sends them back through a pipe as frames
(path, bytes); the parent meanwhile renders its own share, then hands the children's files
to the writer as if it had rendered them (:func:`statuspage.render.render_files`).

Only a build that keeps nothing forks (``upwatch build-page``, its ``--jobs``): the pieces a
child renders end with it, and a rebuild renders little. A process running a thread besides
its main one is not forked (a lock that thread holds would stay locked in the child): the
build then renders everything itself. The writer's thread starts with the first file, after
the children are forked (:mod:`statuspage.writing`).

When the system refuses a child (no process, memory or pipe to spare), the build renders
those languages itself. A child that fails sends its traceback and exits; the parent raises
it, naming the languages. A child that dies (killed, out of memory) is named with its signal.
When the parent fails or is interrupted, its children are killed and reaped: none is left
behind.
"""

from __future__ import annotations

import os
import signal
import struct
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import NoReturn

__all__ = ["Children", "cores", "may_fork", "shares"]

#: A language's pages, rendered: ``render(lang, put)`` calls ``put(path, text or bytes)``.
Render = Callable[[str, Callable[[str, str | bytes], None]], None]

_FRAME = struct.Struct("<IQ")  # the path's length, the file's length; then both
_ERROR = b"\0error"  # the path of the frame a failing child sends its traceback in
_CHUNK = 1 << 20


def cores() -> int:
    """The cores this process may run on (fewer than the machine's under ``taskset`` or a
    container's CPU set)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1  # pragma: no cover - macOS


def may_fork() -> bool:
    """Whether this process may fork a renderer: it runs no thread besides this one."""
    return threading.active_count() == 1 and hasattr(os, "fork")


def shares(languages: Sequence[str], jobs: int) -> tuple[list[str], list[list[str]]]:
    """The languages the build renders itself, and each child's, for ``jobs`` processes in
    all. The build also renders the per-service files (about one language's work): it takes
    a language less when the languages do not split evenly."""
    jobs = max(1, min(jobs, len(languages) + 1))
    groups: list[list[str]] = [[] for _ in range(jobs)]
    loads = [1] + [0] * (jobs - 1)
    for lang in languages:
        least = loads.index(min(loads))
        groups[least].append(lang)
        loads[least] += 1
    return groups[0], [group for group in groups[1:] if group]


class Children:
    """The children rendering ``groups`` of languages with ``render``, forked at once; a
    context manager that kills and reaps whichever are left when it exits."""

    def __init__(self, groups: Sequence[Sequence[str]], render: Render) -> None:
        self._running: list[tuple[int, int, tuple[str, ...]]] = []  # pid, pipe, languages
        self._read: list[list[bytes]] = []
        self._readers: list[threading.Thread] = []
        #: The languages of the groups no child could be forked for (the system had no
        #: process, memory or pipe to spare): the build renders them itself.
        self.left: list[str] = []
        try:
            for i, group in enumerate(groups):
                try:
                    self._fork(tuple(group), render)
                except OSError:  # EAGAIN, ENOMEM, EMFILE: render in the build instead
                    self.left = [lang for rest in groups[i:] for lang in rest]
                    break
        except BaseException:
            self.close()
            raise
        for fd, chunks in zip([fd for _, fd, _ in self._running], self._read, strict=True):
            reader = threading.Thread(target=_drain, args=(fd, chunks), daemon=True,
                                      name="upwatch-page-child")
            reader.start()  # the pipe is read while the build renders: a child never waits
            self._readers.append(reader)

    def _fork(self, langs: tuple[str, ...], render: Render) -> None:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child: never returns
            os.close(read)
            for _, fd, _ in self._running:
                os.close(fd)
            _child(write, langs, render)
        os.close(write)
        self._running.append((pid, read, langs))
        self._read.append([])

    @property
    def forked(self) -> int:
        """The children forked (and not yet collected)."""
        return len(self._running)

    def files(self) -> Iterator[tuple[str, bytes]]:
        """Each child's files, once it has sent them all; raises what a child failed with."""
        while self._running:
            pid, fd, langs = self._running[0]
            self._readers[0].join()
            _, status = os.waitpid(pid, 0)
            os.close(fd)
            data = b"".join(self._read[0])
            del self._running[0], self._read[0], self._readers[0]
            yield from _frames(data, langs, status)

    def close(self) -> None:
        """Kill and reap the children still running."""
        for pid, _, _ in self._running:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for reader in self._readers:
            reader.join()
        for pid, fd, _ in self._running:
            os.waitpid(pid, 0)
            os.close(fd)
        self._running, self._read, self._readers = [], [], []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _drain(fd: int, chunks: list[bytes]) -> None:
    while chunk := os.read(fd, _CHUNK):
        chunks.append(chunk)


def _child(fd: int, langs: tuple[str, ...], render: Render) -> NoReturn:
    """Render ``langs`` and send the files through ``fd``; exit (never return into the code
    that forked: it would go on as a second parent)."""
    status = 0
    try:
        with open(fd, "wb", buffering=_CHUNK) as out:
            def put(rel: str, content: str | bytes) -> None:
                blob = content.encode() if isinstance(content, str) else content
                name = rel.encode()
                out.write(_FRAME.pack(len(name), len(blob)))
                out.write(name)
                out.write(blob)
            try:
                for lang in langs:
                    render(lang, put)
            except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises
                status = 1
                told = "".join(traceback.format_exception(err)).encode()
                out.write(_FRAME.pack(len(_ERROR), len(told)))
                out.write(_ERROR)
                out.write(told)
    except BaseException:  # noqa: BLE001 - the pipe is gone: the parent was killed
        status = 2
    finally:
        os._exit(status)


def _frames(data: bytes, langs: tuple[str, ...], status: int) -> Iterator[tuple[str, bytes]]:
    """The files a child sent, checked whole; its error, death or cut-off output raised."""
    which = f"the child process rendering the pages in {', '.join(langs)}"
    view, at, found = memoryview(data), 0, []
    while at + _FRAME.size <= len(data):
        name_len, blob_len = _FRAME.unpack_from(view, at)
        at += _FRAME.size
        end = at + name_len + blob_len
        if end > len(data):
            break
        name, blob = bytes(view[at:at + name_len]), bytes(view[at + name_len:end])
        at = end
        if name == _ERROR:
            raise RuntimeError(f"{which} failed:\n{blob.decode(errors='replace')}")
        found.append((name.decode(), blob))
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        raise RuntimeError(f"{which} was killed by signal {number} ({_signal_name(number)}); "
                           "build again, or with --jobs 1")
    if os.waitstatus_to_exitcode(status) != 0 or at != len(data):
        raise RuntimeError(f"{which} ended (status {os.waitstatus_to_exitcode(status)}) "
                           "before sending all its pages; build again, or with --jobs 1")
    yield from found


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal
        return "no name"
