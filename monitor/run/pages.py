"""Status page builds of ``upwatch run``: each one a child process, at low priority.

A build for thousands of services takes seconds of CPU. Inside the monitor it held the GIL
against the event loop (checks started late, ``/healthz`` answered late) and its ledger reads
queued with the writer's commits. So the runner runs ``upwatch build-page --config C --db D
--out DIR`` (:func:`build_page_command`) as a child process instead:

- its own interpreter: no GIL shared with the event loop;
- its own SQLite connection: in WAL mode a reader never blocks the writer, nor the writer it;
- ``nice`` :data:`NICENESS` (:func:`niced`, a few lines of Python that lower their priority
  and ``exec`` the build): when both want the CPU, probes and commits get it first;
- its own session (``start_new_session``): a Ctrl-C on the terminal reaches the monitor only,
  which then stops the build itself; stopping it kills its whole process group;
- at most ``timeout_s``: then it is killed, and :class:`ChildBuild` says so.

The child reads the same config file and ledger as the monitor, so a config reloaded on SIGHUP
reaches the next build, and the windows declared at run time (stored in the ledger) are on the
page. Nothing here imports ``statuspage``: the child does, through the CLI.

With ``SitePlan.serve`` (what ``upwatch run`` sets) the child is a :class:`BuildWorker`: one
``upwatch build-page --serve`` kept for the monitor's life, niced and in its own session like
the others, asked for one build per line on its stdin. It keeps what its builds computed and
rendered, so a rebuild a minute later redoes only what changed (:mod:`statuspage.builder`). A
build that fails ends it, one past the timeout or a cancelled one kills it; the next build
starts a new one (a build from nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.times import iso_utc

__all__ = ["DEFAULT_TIMEOUT_S", "NICENESS", "BuildCommand", "BuildWorker", "ChildBuild",
           "SitePlan", "build_page_command", "build_page_worker", "count_files", "niced",
           "run_build"]

#: How much lower than the monitor's the priority of a page build is (``nice(1)``'s scale).
NICENESS = 10

#: A build running longer than this is killed (5 minutes: 2,000 services take ~10 s).
DEFAULT_TIMEOUT_S = 300.0

#: ``(config file, ledger, site directory, now) → argv`` of one build.
BuildCommand = Callable[[Path, str | Path, Path, datetime], Sequence[str]]

#: The folder that holds the ``monitor`` package: put first on the child's ``sys.path``, so the
#: child runs the same code as the monitor, installed or from a source checkout.
_CODE_ROOT = Path(__file__).resolve().parents[2]

#: Lower our priority, then become the build (one interpreter start of a bare Python, ~10 ms).
_NICE_WRAPPER = "import os, sys; os.nice(int(sys.argv[1])); os.execvp(sys.argv[2], sys.argv[2:])"

_BUILT = re.compile(r"^built (\d+) files into ", re.MULTILINE)

#: The end of a child's stderr kept for the log (a runaway child cannot flood it).
_KEEP_STDERR_CHARS = 4000


def build_page_command(config_path: Path, db_path: str | Path, out_dir: Path,
                       now: datetime) -> list[str]:
    """``upwatch build-page`` with this interpreter, on the monitor's config file and ledger,
    as of the monitor's ``now`` (``--at``: an injected clock reaches the page too)."""
    return [sys.executable, "-m", "monitor.cli", "build-page", "--config", str(config_path),
            "--db", str(db_path), "--out", str(out_dir), "--at", iso_utc(now)]


def build_page_worker(config_path: Path, db_path: str | Path, out_dir: Path) -> list[str]:
    """``upwatch build-page --serve`` on the monitor's config file and ledger: the child of
    a :class:`BuildWorker`."""
    return [sys.executable, "-m", "monitor.cli", "build-page", "--config", str(config_path),
            "--db", str(db_path), "--out", str(out_dir), "--serve"]


def niced(argv: Sequence[str], niceness: int = NICENESS) -> list[str]:
    """``argv`` run at ``niceness`` (``os.nice`` then ``exec``: no shell, no ``preexec_fn``)."""
    if not argv:
        raise ValueError("niced: empty command")
    return [sys.executable, "-I", "-S", "-c", _NICE_WRAPPER, str(niceness), *argv]


@dataclass(frozen=True)
class ChildBuild:
    """How one build went: its exit status (None: killed at the timeout) and what it said."""

    argv: tuple[str, ...]
    pid: int
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def files(self) -> int | None:
        """The files the build reported (``built N files into …``); None if it did not say."""
        found = _BUILT.search(self.stdout)
        return int(found.group(1)) if found else None

    @property
    def stderr_lines(self) -> list[str]:
        """The end of stderr, one stripped line each, blank lines left out."""
        text = self.stderr[-_KEEP_STDERR_CHARS:]
        return [line.rstrip() for line in text.splitlines() if line.strip()]


def _child_env(base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_CODE_ROOT), env.get("PYTHONPATH")) if p)
    return env


async def run_build(argv: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                    niceness: int = NICENESS) -> ChildBuild:
    """Run ``argv`` as a niced child in its own session; wait at most ``timeout_s``.

    Past the timeout, or when the caller is cancelled (the monitor stopping), the child's
    process group is killed and reaped before this returns (or re-raises). OSError: the child
    could not be started at all."""
    proc = await asyncio.create_subprocess_exec(
        *niced(argv, niceness), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True, env=_child_env(os.environ))
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        await _kill(proc)
        return ChildBuild(tuple(argv), proc.pid, None, True, "", "")
    except BaseException:  # cancelled: never leave a build running behind a stopped monitor
        await _kill(proc)
        raise
    return ChildBuild(tuple(argv), proc.pid, proc.returncode, False,
                      out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's process group (it leads its own session: whatever it started goes
    too, and with it the last holder of its pipes), then reap it."""
    with contextlib.suppress(ProcessLookupError):  # the whole group ended just now
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


class BuildWorker:
    """One ``upwatch build-page --serve`` child (``argv``), started at the first build and
    again after one failed or was killed; asked for a build by a line on its stdin (the time
    to build as of), it answers with one line on stdout. What it writes on stderr meanwhile
    goes with the build under way."""

    def __init__(self, argv: Sequence[str], niceness: int = NICENESS) -> None:
        self.argv, self._niceness = tuple(argv), niceness
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: list[str] = []
        self._reading: asyncio.Task[None] | None = None

    async def _start(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *niced(self.argv, self._niceness), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, env=_child_env(os.environ))
        self._proc, self._stderr = proc, []
        self._reading = asyncio.create_task(self._read_stderr(proc))
        return proc

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():  # drained, so the child never blocks
            self._stderr.append(line.decode("utf-8", "replace"))
            del self._stderr[:-200]

    async def build(self, now: datetime, timeout_s: float = DEFAULT_TIMEOUT_S) -> ChildBuild:
        """One build as of ``now``, within ``timeout_s`` (then the child is killed). OSError:
        the child could not be started."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            proc = await self._start()
        assert proc.stdin is not None and proc.stdout is not None
        self._stderr.clear()
        try:
            async with asyncio.timeout(timeout_s):
                try:
                    proc.stdin.write(f"{iso_utc(now)}\n".encode())
                    await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # it ended (it says how below)
                line = await proc.stdout.readline()
                if not line:  # it ended: the build failed, and it said why on stderr
                    await proc.wait()
                    if self._reading is not None:
                        await self._reading
                    return ChildBuild(self.argv, proc.pid, proc.returncode, False, "",
                                      "".join(self._stderr))
        except TimeoutError:
            await self.close(kill=True)
            return ChildBuild(self.argv, proc.pid, None, True, "", "")
        except BaseException:  # cancelled: never leave a build running behind a stopped monitor
            await self.close(kill=True)
            raise
        for _ in range(3):  # let the reader take what it wrote on stderr just before
            await asyncio.sleep(0)
        return ChildBuild(self.argv, proc.pid, 0, False, line.decode("utf-8", "replace"),
                          "".join(self._stderr))

    async def close(self, *, kill: bool = False) -> None:
        """End the child: at the end of its input, or (``kill``, or when it does not end
        within 10 s) by killing its process group."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None and not kill and proc.stdin is not None:
            proc.stdin.close()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                pass
        if proc.returncode is None:
            await _kill(proc)
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)
            self._reading = None


def count_files(out_dir: Path) -> int:
    """Files of the site published at ``out_dir``, 0 if none (blocking: run it in a thread)."""
    root = out_dir.resolve()
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


@dataclass(frozen=True)
class SitePlan:
    """Where ``upwatch run`` publishes the status page it rebuilds, and how.

    Every build is a child process at low priority (this module):
    ``command(config file, ledger, out_dir, now)`` is its argv, ``upwatch build-page`` by
    default, or (``serve``) the build worker kept between builds; one running longer than
    ``timeout_s`` is killed."""

    out_dir: Path
    timeout_s: float = DEFAULT_TIMEOUT_S
    command: BuildCommand = build_page_command
    #: Build in one :class:`BuildWorker` kept between builds (``build_page_worker``) rather
    #: than in a new child each time (``command``): rebuilds then redo only what changed.
    serve: bool = False
