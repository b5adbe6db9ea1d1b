"""Status page build benchmark: N services (``--services``, 200 by default) × 90-day bars + 12
months of history, built from nothing and then rebuilt minute by minute.

Seeds a real :class:`~monitor.ledger.Ledger` in a temporary directory through ``record()``
(synthetic, seeded random: checks every 6 hours with a 6-hour interval so that minutes carry,
plus outages of 1–90 minutes, degraded spells, gaps without data and services that started
late; a fifth of the services have business-hours coverage, every service a weekly maintenance
window; 40 incidents in the last 90 days, two still open, with 2–6 Markdown updates each).
Then measures, best of ``--repeat``:

- ``gather_s``: :func:`statuspage.data.gather` (ledger reads + all uptime arithmetic), from
  nothing: a new :class:`~statuspage.builder.SiteBuilder` in a process of its own, as
  ``upwatch build-page`` has (``COLD``);
- ``render_s``: :func:`statuspage.render.build_site` (5 languages × index + history,
  status.json, feeds, badges, assets; written and published atomically), from nothing;
- ``write_s``: the seconds spent writing and publishing the files (the build report's
  ``write_s``), in a thread of their own while the build renders (``statuspage.writing``);
- ``build_s`` = gather + render: a full first build (goal: < 1 s for 200 services, < 3 s for
  1,000), its languages' pages rendered in ``--jobs`` processes (``jobs``; by default, as
  ``upwatch build-page``'s, one per core this process may use: ``statuspage.forked``);
  ``build_cpu_s``: the CPU seconds of that build and of its children; with more than one
  process, the same build in one process too (``JOBS``): ``build_one_process_s``, and
  ``forked_identical``: whether both made the same site byte for byte;
- the rebuild ``upwatch run`` does every minute, by one :class:`SiteBuilder` kept between
  builds: one minute later, with 1 % of the services (at least one) given a new, failing
  check, after two such minutes untimed (``WARM_UP``: from the third minute on a rebuild
  retires a version and takes over its files, as every later minute of ``upwatch run``
  does): ``rebuild_gather_s``, ``rebuild_render_s`` (render + write; ``rebuild_write_s`` the
  writing), ``rebuild_s`` (goal:
  < 0.5 s for 1,000 services), ``rebuild_written`` (files whose bytes changed, of ``files``),
  ``rebuild_rendered`` (service pieces rendered again, of 3 per service and language), and
  ``rebuild_identical``: whether the rebuilt site is byte for byte the one a build from
  nothing makes at that minute.

The collector is tuned before the builds, as ``upwatch build-page`` tunes it, and paused during
each build, as :meth:`~statuspage.builder.SiteBuilder.build` pauses it
(``monitor.run.collector``). ``rebuild_settle_s``: the collection ``upwatch run``'s builder
makes after each rebuild, once the page is out (:meth:`SiteBuilder.settle`; not in
``rebuild_s``; every hour it collects everything instead, 0.5 s for 1,000 services).

Then, as with real intervals, every service probed every minute (``PROBED``):
``probed_rebuild_s``, ``probed_rendered``.

Reference, from the same run: ``reference_s``, a bare f-string rendering of one ``<li>`` per
day per service with a pre-formatted label (the least work any such page needs, ×5 languages);
``ratio`` = build_s / reference_s, ``rebuild_ratio`` = rebuild_s / reference_s.

Each timed build starts on a calm disk (``os.sync()`` first, untimed: see ``CALM``).

A second reference, for the disk: ``io_reference_s``, the site's files written as new files
into an empty folder beside it with bare ``open``/``write`` after each build from
nothing, on a calm disk too (best of ``--repeat``), which any
static site of that many files pays on this disk; ``build_less_io_s`` = build_s −
io_reference_s, the build's own share. Making a file costs 0.3–1 ms on some of the ext4 disks
we measured and 0.02 ms on others; the rebuild mostly reuses the files of the version it
retires (``statuspage.publish``). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import Config, parse_config  # noqa: E402
from monitor.core.checks import CheckResult, Observation, State  # noqa: E402
from monitor.core.incidents import Impact, IncidentStatus  # noqa: E402
from monitor.run.collector import paused_collector, tune_collector  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402
from statuspage.builder import SiteBuilder  # noqa: E402
from statuspage.forked import cores  # noqa: E402

NOW = datetime(2026, 10, 20, 12, 0, 30, tzinfo=UTC)
STEP = timedelta(hours=6)
INTERVAL_MS = 6 * 3600 * 1000
#: CALM: each timed build starts after ``os.sync()`` (untimed). ``upwatch run`` builds a minute
#: apart, and the kernel writes dirty pages back within 30 s; built back to back, each build
#: paid for the last one's writes (making a file waits on this VM's disk while the inode
#: bitmap is being written back: 0.8 ms a file, against 0.04 ms on a calm disk).
#: COLD: each build from nothing runs in a process of its own, as ``upwatch build-page`` does:
#: nothing an earlier build worked out (the formatters' and the markup's kept words and pieces,
#: the compiled templates, the chart drawings) carries over. Repeated in one process, the second
#: build from nothing of 1,000 services rendered in 1.8 s instead of 2.9 s.
#: JOBS: with ``--jobs`` above 1, each timed build from nothing is followed by the same build
#: in one process, in a process of its own too, so that both are measured in the same run.
#: Rebuilds before the timed ones: from the third on, each retires a version and takes over
#: its files (statuspage.publish), as every minute of a running ``upwatch run`` does.
WARM_UP = 2


def make_config(services: int) -> Config:
    lines = [
        "site: {title: Bench status, language: en, timezone: Europe/Copenhagen}",
        "services:",
    ]
    for i in range(services):
        sla = "{target: 99.9}"
        if i % 5 == 4:
            sla = ("{target: 99.95, timezone: Europe/Copenhagen, coverage: {days: mon-fri, "
                   "hours: '09:00-17:00', holidays: [DK]}}")
        lines.append(f"  - {{name: s{i:03d}, title: 'Service {i}', group: 'Group {i // 20}', "
                     f"url: 'http://127.0.0.1/{i}', interval: 6h, timeout: 5s, sla: {sla}}}")
    lines += [
        "maintenance:",
        "  - services: [" + ", ".join(f"s{i:03d}" for i in range(services)) + "]",
        "    title: Weekly patching",
        "    rrule: 'FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0'",
        "    duration: 1h",
        "    timezone: Europe/Copenhagen",
    ]
    return parse_config("\n".join(lines) + "\n")


def _obs(name: str, t: datetime, state: State) -> Observation:
    ok = state != State.DOWN
    return Observation(CheckResult(name, t, ok, 90.0 if ok else None, 200 if ok else 503),
                       state, INTERVAL_MS)


def seed(ledger: Ledger, config: Config, days: int, rng: random.Random) -> int:
    """Record synthetic history for every service; returns the number of checks recorded."""
    count = 0
    for svc in config.services:
        start = NOW - timedelta(days=rng.choice([days, days, days, rng.randrange(20, days)]))
        events: dict[datetime, State] = {}
        t = start
        while t < NOW:
            events[t] = State.UP
            t += STEP
        for _ in range(rng.randrange(0, 25)):  # outages: down, then up again
            at = start + timedelta(minutes=rng.randrange(int((NOW - start).total_seconds() // 60)))
            events[at] = State.DOWN
            events[at + timedelta(minutes=rng.randrange(1, 90))] = State.UP
        for _ in range(rng.randrange(0, 5)):  # degraded spells
            at = start + timedelta(minutes=rng.randrange(int((NOW - start).total_seconds() // 60)))
            events[at] = State.DEGRADED
            events[at + timedelta(minutes=rng.randrange(5, 120))] = State.UP
        if rng.random() < 0.2:  # a gap without data (probing stopped for a few days)
            gap = start + timedelta(days=rng.randrange(1, max(2, (NOW - start).days)))
            for when in [w for w in events if gap <= w < gap + timedelta(days=3)]:
                del events[when]
        obs = [_obs(svc.name, when, state) for when, state in sorted(events.items())
               if when < NOW]
        ledger.record(obs)
        count += len(obs)
    return count


def seed_incidents(ledger: Ledger, config: Config, rng: random.Random, n: int = 40) -> int:
    """``n`` incidents over the last 90 days (the newest two left open); returns ``n``."""
    names = config.service_names
    for i in range(n):
        at = NOW - timedelta(minutes=rng.randrange(60, 90 * 1440)) if i >= 2 else \
            NOW - timedelta(minutes=rng.randrange(5, 60))
        inc, _ = ledger.open_incident(
            title=f"Incident {i}: elevated errors", impact=rng.choice(list(Impact)[1:]),
            severity="severity 2", services=rng.sample(names, rng.randrange(1, 4)),
            detected_at=at, at=at, author="detector", human=False,
            body="upwatch detected that **a service** is down.")
        steps = rng.randrange(1, 6)
        for k in range(steps):
            last = k == steps - 1 and i >= 2
            ledger.post_incident_update(
                inc.id, at=at + timedelta(minutes=10 * (k + 1)),
                status=IncidentStatus.RESOLVED if last else IncidentStatus.MONITORING,
                body="We *rolled back* the release.\n\n- `api` is fine\n- see "
                     "[the notes](https://example.com/notes)", author="cli:ops", human=True)
    return n


def reference(config: Config, days: int) -> float:
    """The least work a page needs: one pre-labelled <li> per day per service, ×5 languages."""
    label = "1 Oct 2026: 100.00% up"
    t0 = time.perf_counter()
    for _ in range(5):
        parts = []
        for svc in config.services:
            parts.append(f"<h3>{svc.title}</h3><ol>")
            parts.extend(f'<li class="up"><span>{label}</span></li>' for _ in range(days))
            parts.append("</ol>")
        "".join(parts).encode()
    return time.perf_counter() - t0


def changed(ledger: Ledger, config: Config, at: datetime, step: int) -> int:
    """1 % of the services (at least one; others at each step) get a failing check at ``at``."""
    n = max(1, len(config.services) // 100)
    picked = [config.services[(step * n + k) % len(config.services)] for k in range(n)]
    ledger.record([_obs(svc.name, at, State.DOWN) for svc in picked])
    return n


#: PROBED: after the rebuilds above (1 % changed, everything else checked six hours apart), every
#: service is checked every minute for this many minutes, untimed, and then rebuilt minute by
#: minute with a new check for every service each minute (response times around 90 ms), as
#: with a 60 s interval: ``probed_rebuild_s`` (best of ``--repeat``) and ``probed_rendered``
#: (the pieces rendered again, of 11 per service, at that best minute). Only what the page
#: shows of a check decides whether a piece is rendered again: the line on the last check is
#: put in at every build, the charts move now and then.
PROBED_MINUTES = 40


def probed_rebuilds(ledger: Ledger, config: Config, builder: SiteBuilder, after: datetime,
                    repeat: int, out: Path, rng: random.Random) -> tuple[float, int]:
    """See PROBED; the best rebuild's seconds and the pieces it rendered again."""
    def check_all(at: datetime) -> None:
        ledger.record([Observation(CheckResult(svc.name, at, True,
                                               max(20.0, rng.gauss(90.0, 12.0)), 200),
                                   State.UP, 60_000) for svc in config.services])
    at = after
    for _ in range(PROBED_MINUTES):
        at += timedelta(minutes=1)
        check_all(at - timedelta(seconds=40))
    best, rendered = float("inf"), 0
    for step in range(WARM_UP + repeat):
        at += timedelta(minutes=1)
        check_all(at - timedelta(seconds=40))
        os.sync()  # see CALM
        with paused_collector():  # as SiteBuilder.build
            t0 = time.perf_counter()
            builder.build_data(builder.gather(config, ledger, at), out)
            took = time.perf_counter() - t0
        builder.settle()
        if step >= WARM_UP and took < best:
            best, rendered = took, builder.fragments.counts["rendered"]
    return best, rendered


def io_reference(files: dict[str, bytes], into: Path) -> float:
    """Write ``files`` as new files under ``into`` (a folder not there yet): bare open/write."""
    folders = sorted({(into / rel).parent for rel in files})
    t0 = time.perf_counter()
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for rel, blob in files.items():
        with open(into / rel, "wb") as fh:
            fh.write(blob)
    return time.perf_counter() - t0


def site_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _cpu_s() -> float:
    """CPU seconds of this process and of its children reaped so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cold_build(services: int, db: Path, out: Path, jobs: int) -> None:
    """One build from nothing in this fresh process (see COLD), its languages' pages rendered
    in ``jobs`` processes; its times as a JSON line."""
    config = make_config(services)
    ledger = Ledger(db)
    tune_collector()  # as upwatch build-page does
    builder = SiteBuilder(jobs=jobs)
    os.sync()  # a calm disk (see CALM): the seed's or the last build's writes are out
    with paused_collector():  # as SiteBuilder.build
        c0, t0 = _cpu_s(), time.perf_counter()
        data = builder.gather(config, ledger, NOW)
        t1 = time.perf_counter()
        report = builder.build_data(data, out)
        t2, c2 = time.perf_counter(), _cpu_s()
    ledger.close()
    print(json.dumps({"gather_s": t1 - t0, "render_s": t2 - t1, "write_s": report.write_s,
                      "cpu_s": c2 - c0, "version_dir": str(report.version_dir)}))


def _cold(services: int, tmp: Path, jobs: int) -> dict[str, Any]:
    cold = subprocess.run(
        [sys.executable, __file__, "--services", str(services), "--jobs", str(jobs),
         "--cold-build", str(tmp / "bench.db"), str(tmp / "site")],
        check=True, capture_output=True, text=True)
    built: dict[str, Any] = json.loads(cold.stdout.splitlines()[-1])
    return built


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--days", type=int, default=400, help="days of history to seed")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=cores(),
                    help="processes a build from nothing renders in (default, as upwatch "
                         "build-page's: the cores this process may use)")
    ap.add_argument("--cold-build", nargs=2, metavar=("LEDGER", "OUT"), type=Path,
                    help=argparse.SUPPRESS)  # one build from nothing, in a child (see COLD)
    args = ap.parse_args()
    if args.cold_build:
        cold_build(args.services, *args.cold_build, args.jobs)
        return
    rng = random.Random(20261020)
    config = make_config(args.services)
    with tempfile.TemporaryDirectory(prefix="upwatch-bench-page-") as tmp:
        ledger = Ledger(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        checks = seed(ledger, config, args.days, rng)
        incidents = seed_incidents(ledger, config, rng)
        seed_s = time.perf_counter() - t0
        tune_collector()  # as upwatch build-page (and its --serve child) does
        gathers, renders, writes, cpus, ios, alone = [], [], [], [], [], []
        files: dict[str, bytes] = {}
        forked_identical = True
        for _ in range(args.repeat):  # from nothing, as ``upwatch build-page``: see COLD
            built = _cold(args.services, Path(tmp), args.jobs)
            gathers.append(built["gather_s"])
            renders.append(built["render_s"])
            writes.append(built["write_s"])
            cpus.append(built["cpu_s"])
            # the disk's reference after each build: the same files, new, bare, on a calm disk
            files = site_bytes(Path(built["version_dir"]))
            os.sync()
            ios.append(io_reference(files, Path(tmp) / f"io-{len(ios)}"))
            if args.jobs > 1:  # the same build in one process (JOBS)
                one = _cold(args.services, Path(tmp), 1)
                alone.append(one["gather_s"] + one["render_s"])
                forked_identical &= site_bytes(Path(one["version_dir"])) == files
        # minute by minute, as ``upwatch run``: one builder kept between builds
        builder = SiteBuilder()
        builder.build(config, ledger, [], NOW, Path(tmp) / "live")
        builder.settle()
        regathers, rerenders, rewrites, written, rendered, n_changed = [], [], [], [], [], 0
        settles = []
        at = NOW
        for step in range(1, WARM_UP + args.repeat + 1):
            at = NOW + timedelta(minutes=step)
            n_changed = changed(ledger, config, at - timedelta(seconds=30), step)
            if step <= WARM_UP:  # not timed: upwatch run's first minutes retire no version
                builder.build(config, ledger, [], at, Path(tmp) / "live")
                builder.settle()
                continue
            os.sync()  # see CALM
            with paused_collector():  # as SiteBuilder.build
                t0 = time.perf_counter()
                data = builder.gather(config, ledger, at)
                t1 = time.perf_counter()
                again = builder.build_data(data, Path(tmp) / "live")
                t2 = time.perf_counter()
            settles.append(builder.settle())  # after the page is out, as upwatch run
            regathers.append(t1 - t0)
            rerenders.append(t2 - t1)
            rewrites.append(again.write_s)
            written.append(again.written)
            rendered.append(builder.fragments.counts["rendered"])
        SiteBuilder().build(config, ledger, [], at, Path(tmp) / "cold")
        identical = site_bytes(Path(tmp) / "live") == site_bytes(Path(tmp) / "cold")
        io_s = min(ios)
        probed_s, probed_rendered = probed_rebuilds(ledger, config, builder, at, args.repeat,
                                                    Path(tmp) / "live", rng)
        ledger.close()
        ref = min(reference(config, 90) for _ in range(args.repeat))
        gather_s, render_s = min(gathers), min(renders)
        regather_s, rerender_s = min(regathers), min(rerenders)
        sizes = {rel: len(blob) for rel, blob in files.items()}
        result = {
            "services": args.services,
            "checks_seeded": checks,
            "incidents": incidents,
            "seed_s": round(seed_s, 2),
            "gather_s": round(gather_s, 3),
            "render_s": round(render_s, 3),
            "build_s": round(gather_s + render_s, 3),
            "jobs": args.jobs,
            "build_cpu_s": round(cpus[renders.index(render_s)], 3),
            "build_one_process_s": round(min(alone), 3) if alone else None,
            "forked_identical": forked_identical,
            "reference_s": round(ref, 4),
            "ratio": round((gather_s + render_s) / ref, 1),
            "index_kb": round(sizes["index.html"] / 1024, 1),
            "history_kb": round(sizes["history.html"] / 1024, 1),
            "status_json_kb": round(sizes["status.json"] / 1024, 1),
            "feed_kb": round(sizes["feed.atom"] / 1024, 1),
            "site_kb": round(sum(sizes.values()) / 1024, 1),
            "files": len(files),
            "write_s": round(writes[renders.index(render_s)], 3),
            "io_reference_s": round(io_s, 3),
            "build_less_io_s": round(gather_s + render_s - io_s, 3),
            "goal_build_s": 1.0 if args.services <= 200 else 3.0,
            "rebuild_changed": n_changed,
            "rebuild_gather_s": round(regather_s, 3),
            "rebuild_render_s": round(rerender_s, 3),
            "rebuild_s": round(regather_s + rerender_s, 3),
            "rebuild_ratio": round((regather_s + rerender_s) / ref, 1),
            "rebuild_write_s": round(rewrites[rerenders.index(rerender_s)], 3),
            "rebuild_written": min(written),
            "rebuild_rendered": min(rendered),
            "rebuild_identical": identical,
            "rebuild_settle_s": round(sum(settles) / len(settles), 3),
            "goal_rebuild_s": 0.5,
            "probed_rebuild_s": round(probed_s, 3),
            "probed_rendered": probed_rendered,
        }
        print(f"seeded {checks} checks for {args.services} services in {seed_s:.1f}s; "
              f"reference {ref:.4f}s (bare f-strings, 5 languages)")
        print(f"full build:  gather {gather_s:.3f}s ({gather_s / ref:.1f}x) + render "
              f"{render_s:.3f}s ({render_s / ref:.1f}x) = {gather_s + render_s:.3f}s "
              f"({(gather_s + render_s) / ref:.1f}x the reference)")
        if alone:
            print(f"  in {args.jobs} processes: {cpus[renders.index(render_s)]:.3f} CPU-s; "
                  f"in one process: {min(alone):.3f}s ({min(alone) / ref:.1f}x); the same "
                  f"site byte for byte: {forked_identical}")
        print(f"disk: the build wrote for {result['write_s']:.3f}s, alongside its rendering; the "
              f"{len(files)} files written as new files, bare: {io_s:.3f}s; the build "
              f"less that: {gather_s + render_s - io_s:.3f}s")
        print(f"rebuild ({n_changed} of {args.services} services changed, a minute later): "
              f"gather {regather_s:.3f}s ({regather_s / ref:.1f}x) + render "
              f"{rerender_s:.3f}s ({rerender_s / ref:.1f}x) = {regather_s + rerender_s:.3f}s "
              f"({(regather_s + rerender_s) / ref:.1f}x the reference); "
              f"{min(written)} of {len(files)} files written; "
              f"identical to a build from nothing: {identical}; then collecting the garbage, "
              f"once the page is out: {result['rebuild_settle_s']:.3f}s")
        print(f"rebuild with every service probed every minute (see PROBED): {probed_s:.3f}s "
              f"({probed_s / ref:.1f}x); {probed_rendered} of "
              f"{args.services * (2 * 5 + 1)} pieces rendered again")
        print(json.dumps(result))


if __name__ == "__main__":
    main()
