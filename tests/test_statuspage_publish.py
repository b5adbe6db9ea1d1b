"""Publishing versions of the site: a retired version lends its files' inodes to the new one,
and no version still kept is touched (:mod:`statuspage.publish`)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from statuspage.publish import BuildReport, Published
from statuspage.writing import writing


def _site(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_and_publish(files: dict[str, bytes], out: Path, before: Published,
                      folders: tuple[str, ...] = ()) -> BuildReport:
    with writing(out, before, folders) as writer:
        for rel, blob in files.items():
            writer.put(rel, blob)
    assert writer.report is not None
    return writer.report


def _files(i: int) -> dict[str, bytes]:
    # each version shorter than the one before: a reused file must be cut to its new length
    return {"index.html": f"<p>version {i}</p>{'.' * (40 - i)}".encode(),
            f"services/s{i}.json": f'{{"v": {i}}}'.encode(),
            "static/style.css": b"body { color: black }",  # the same in every version
            "status.json": f'{{"at": {i}}}'.encode()}


def test_a_retired_versions_files_become_the_new_versions_and_kept_ones_stay_whole(
    tmp_path: Path
) -> None:
    out, before = tmp_path / "site", Published()
    reports = [write_and_publish(_files(i), out, before, folders=("services",))
               for i in range(3)]
    kept = {r.version_dir: _site(r.version_dir) for r in reports}
    oldest = reports[0].version_dir
    inodes = {os.stat(oldest / rel).st_ino for rel in ("index.html", "status.json",
                                                         "services/s0.json")}

    newest = write_and_publish(_files(3), out, before, folders=("services",))

    assert not oldest.exists()  # retired: three versions are kept, the current one among them
    assert _site(out) == _files(3)  # every byte of the new version, cut to its length
    for version in (reports[1].version_dir, reports[2].version_dir):
        assert _site(version) == kept[version]  # the kept versions did not change
    written = {os.stat(newest.version_dir / rel).st_ino
               for rel in ("index.html", "status.json", "services/s3.json")}
    assert written == inodes  # the retired files' inodes, moved in and overwritten
    css = newest.version_dir / "static/style.css"  # linked from the version before
    assert css.stat().st_ino == (reports[2].version_dir / "static/style.css").stat().st_ino
    assert newest.written == 3


def test_a_file_shared_with_a_kept_version_is_never_reused(tmp_path: Path) -> None:
    out, before = tmp_path / "site", Published()
    first = write_and_publish(_files(0), out, before)
    for i in range(1, 5):
        write_and_publish(_files(i), out, before)
    # static/style.css was linked from version to version: one inode all along, never
    # overwritten although every retired version held it
    css = (out / "static/style.css").stat()
    assert css.st_nlink == 3
    assert (out / "static/style.css").read_bytes() == b"body { color: black }"
    assert not first.version_dir.exists()


def test_a_taken_over_version_holds_each_build_exactly_and_kept_versions_never_change(
    tmp_path: Path
) -> None:
    # files appear, change, stay, go and come back at random; folders empty out
    rng = random.Random(7)
    out, before = tmp_path / "site", Published()
    names = [f"{folder}f{i}.txt" for folder in ("", "services/", "deep/er/") for i in range(6)]
    files = {name: b"first" for name in names if rng.random() < 0.7}
    kept: list[tuple[Path, dict[str, bytes]]] = []
    for build in range(40):
        report = write_and_publish(files, out, before)
        assert _site(out) == files, f"build {build}"
        assert (out / "services").is_dir() == any(n.startswith("services/") for n in files)
        kept = [(v, site) for v, site in kept if v.exists()][-2:] + [
            (report.version_dir, dict(files))]
        for version, site in kept:  # what a reader inside a kept version finds
            assert _site(version) == site, f"build {build}: {version.name} changed"
        assert len([p for p in tmp_path.iterdir() if ".build-" in p.name]) == 3 or build < 2
        files = dict(files)
        for name in names:
            roll = rng.random()
            if roll < 0.1:
                files.pop(name, None)
            elif roll < 0.3 or (roll < 0.4 and name not in files):
                files[name] = f"build {build} {'x' * rng.randrange(30)}".encode()


def test_a_file_that_did_not_change_is_not_touched_when_its_version_is_taken_over(
    tmp_path: Path
) -> None:
    out, before = tmp_path / "site", Published()
    reports = [write_and_publish(_files(i), out, before) for i in range(3)]
    css = reports[0].version_dir / "static/style.css"
    stamp = css.stat()

    newest = write_and_publish(_files(3), out, before)

    # the retired version is the new one, renamed: its unchanged file is the very same file,
    # untouched, linked from version to version
    again = (newest.version_dir / "static/style.css").stat()
    assert (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    assert again.st_nlink == 3
    assert not (newest.version_dir / "services/s0.json").exists()


def test_a_file_removed_from_a_retired_version_meanwhile_is_written_again(
    tmp_path: Path
) -> None:
    out, before = tmp_path / "site", Published()
    reports = [write_and_publish(_files(i), out, before) for i in range(3)]
    # a clean-up of old files takes the unchanged stylesheet out of the oldest version
    (reports[0].version_dir / "static/style.css").unlink()

    write_and_publish(_files(3), out, before)

    assert _site(out) == _files(3)


def test_a_link_planted_in_a_retired_version_is_replaced_not_written_through(
    tmp_path: Path
) -> None:
    out, before = tmp_path / "site", Published()
    reports = [write_and_publish(_files(i), out, before) for i in range(3)]
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"not the site's")
    oldest = reports[0].version_dir
    times = oldest.stat()
    (oldest / "index.html").unlink()
    (oldest / "index.html").symlink_to(target)  # a file the new version rewrites
    (oldest / "services/s3.json").symlink_to(target)  # a file the new version adds
    shutil.rmtree(oldest / "static")
    (oldest / "static").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()  # a folder the new version writes into
    os.utime(oldest, ns=(times.st_atime_ns, times.st_mtime_ns))  # still the oldest

    newest = write_and_publish(_files(3), out, before)

    assert not oldest.exists()  # taken over
    assert target.read_bytes() == b"not the site's"
    assert _site(out) == _files(3)
    assert not (newest.version_dir / "index.html").is_symlink()
    assert not (newest.version_dir / "services/s3.json").is_symlink()
    assert not (newest.version_dir / "static").is_symlink()
    assert not any((tmp_path / "elsewhere").iterdir())
