"""Render the static site and publish it atomically.

:func:`build_site` writes, for a :class:`PageData`: ``index.html`` (the site's language),
``index.<lang>.html`` for the other languages, ``history.html`` likewise, ``status.json``,
``feed.atom``, ``badges/<service>-uptime.svg``, ``badges/<service>-status.svg``,
``services/<service>.json`` (its figures and response times, for widgets),
``embed/<service>.html`` (its state and month in one line, for an iframe),
``feeds/<service>.atom`` (the feed's entries about that service), the site's
branding files (``static/brand/``: ``site.logo``, ``favicon``, ``custom_css``) and the
``static/`` assets. Jinja2 renders with autoescape on and the ``i18n`` extension.

Publishing is atomic. ``out_dir`` is a *symbolic link* to the current version, a directory
beside it named ``.<name>.build-XXXXXXXX``. A build renders a new version there, then points a
fresh link at it and renames that link over ``out_dir`` (``rename(2)`` replaces it in one
step), so a reader always finds a complete site: the old one or the new one, never a mixture
or nothing. The version before is kept until the next build (a reader may still be inside it);
older ones are removed. One build at a time per ``out_dir`` (an ``flock`` on
``.<name>.lock`` beside it). A first build replaces an *empty* directory at ``out_dir``; any
other existing file or directory there is refused rather than deleted.

Serving: :func:`site_file` maps a request path to a file of the version published at that
moment (aiohttp's ``add_static`` resolves its directory once, at startup, and would keep
serving a version that has since been removed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import jinja2

from monitor.config import Config
from monitor.core.windows import Window
from monitor.errors import UpwatchError
from monitor.store.ledger import Ledger
from statuspage.badges import status_badge, uptime_badge
from statuspage.data import DAYS, PageData, gather
from statuspage.feed import feed_view
from statuspage.history import history_view
from statuspage.i18n import LANGUAGES, translations
from statuspage.subscribe import subscribe_view
from statuspage.summary import service_json, status_json
from statuspage.views import brand_href, index_view, page_href

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "BuildError", "BuildReport", "build_from_ledger",
           "build_site", "environment", "publish", "render_files"]

TEMPLATE_DIR = Path(__file__).parent / "templates"


def _find_static() -> Path:
    """The page's assets (CSS, favicon): the top-level ``static/`` of a source checkout, which
    is where a user restyles the page; an installed wheel carries the same files as
    ``statuspage/static`` (pyproject maps them there)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static", here.parent / "static"):
        if (candidate / "style.css").is_file():
            return candidate
    raise RuntimeError(f"the status page's static/ folder is missing (looked beside {here})")


STATIC_DIR = _find_static()
_VERSION_MARK = ".build-"


class BuildError(UpwatchError):
    """The site cannot be built or published where asked; the message says why."""


@dataclass(frozen=True)
class BuildReport:
    out_dir: Path
    version_dir: Path  # the directory ``out_dir`` now points to
    files: tuple[str, ...]  # paths relative to the site root, sorted
    sizes: dict[str, int]  # bytes per file

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


@cache
def environment(lang: str) -> jinja2.Environment:
    """The Jinja2 environment of one language: autoescape on, gettext installed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def _asset_version(static_dir: Path) -> str:
    """A hash of the assets, appended to their URLs so browsers never mix old and new."""
    h = hashlib.sha256()
    for p in sorted(static_dir.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(static_dir).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:10]


def _languages(default: str, languages: Sequence[str]) -> list[str]:
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise BuildError(f'unknown language "{unknown[0]}" (known: {", ".join(LANGUAGES)})')
    return [default, *(lang for lang in dict.fromkeys(languages) if lang != default)]


def render_files(
    data: PageData, languages: Sequence[str] = LANGUAGES, *, asset_version: str = ""
) -> dict[str, str]:
    """Every generated file (not the static assets), path → text. Deterministic."""
    default = data.site.language
    files: dict[str, str] = {}
    zone = data.site.timezone
    for lang in _languages(default, languages):
        env = environment(lang)
        common = {"asset_version": asset_version, "days": DAYS, "zone": zone}
        iv = index_view(data, lang)
        files[page_href("index", lang, default)] = env.get_template("index.html").render(
            c=iv.chrome, v=iv, more=True, **common)
        if lang == default:  # one line per service for an iframe, in the site's language
            embed = env.get_template("embed.html")
            for group in iv.groups:
                for sv in group.services:
                    files[f"embed/{sv.id}.html"] = embed.render(c=iv.chrome, s=sv, **common)
        hv = history_view(data, lang)
        files[page_href("history", lang, default)] = env.get_template("history.html").render(
            c=hv.chrome, v=hv, more=False, **common)
        sub = subscribe_view(data, lang)  # with subscriptions: in probes.yaml
        if sub is not None:
            files[page_href("subscribe", lang, default)] = env.get_template(
                "subscribe.html").render(c=sub.chrome, v=sub, more=False, **common)
    feed = environment(default).get_template("feed.xml")
    files["feed.atom"] = feed.render(f=feed_view(data))
    files["status.json"] = _json(status_json(data))
    for s in data.services:
        files[f"badges/{s.name}-uptime.svg"] = uptime_badge(s)
        files[f"badges/{s.name}-status.svg"] = status_badge(s)
        files[f"services/{s.name}.json"] = _json(service_json(data, s))
        files[f"feeds/{s.name}.atom"] = feed.render(f=feed_view(data, service=s.name))
    return files


def _json(doc: object) -> str:
    """Compact JSON with ``<``, ``>`` and ``&`` written as escapes, so that no user text in it
    can be mistaken for markup should a client paste it into a page. Not indented: widgets
    fetch it every minute, and indented, each response-time point took four lines (status.json
    for 200 services: 2.5 MB instead of 0.3)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    with open(out_dir.parent / f".{out_dir.name}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _current(out_dir: Path) -> Path | None:
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


#: Published versions kept beside the current one's link (the current one among them).
_KEEP_VERSIONS = 3


def publish(version: Path, out_dir: Path) -> None:
    """Point ``out_dir`` at ``version`` (a directory beside it) in one rename; tidy up."""
    previous = _current(out_dir)
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


def build_site(
    data: PageData,
    out_dir: Path,
    *,
    languages: Sequence[str] = LANGUAGES,
    static_dir: Path = STATIC_DIR,
) -> BuildReport:
    """Render the whole site for ``data`` and publish it at ``out_dir`` atomically."""
    out_dir = Path(os.path.abspath(out_dir))  # not resolve(): out_dir itself is the link
    if not out_dir.parent.exists():
        raise BuildError(f"{out_dir.parent} does not exist; create it first")
    if not out_dir.parent.is_dir():
        raise BuildError(f"{out_dir.parent} is a file, not a folder")
    brand = _brand_files(data)
    version_tag = _asset_version(static_dir) + "".join(
        f"-{src.stat().st_mtime_ns % 100_000}" for src in brand.values())
    files = render_files(data, languages, asset_version=version_tag)
    try:
        return _write_and_publish(files, out_dir, static_dir, brand)
    except OSError as err:  # no permission, a read-only file system, a full disk …
        raise BuildError(f"cannot write in {out_dir.parent} ({_reason(err)}): choose a folder "
                         "this user can write to, on a disk with free space") from err


def _reason(err: OSError) -> str:
    """What the system said; for ``shutil.Error`` (copytree's list of failed copies) the first."""
    if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list) \
            and err.args[0] and len(err.args[0][0]) == 3:
        return str(err.args[0][0][2])
    return err.strerror or str(err)


def _brand_files(data: PageData) -> dict[str, Path]:
    """The branding files to copy, by their place in the site; a missing one is a BuildError
    naming its key (``load_config`` checks them first: this is a file removed since)."""
    found: dict[str, Path] = {}
    for key, path in data.site.files:
        src = Path(path)
        if not src.is_file():
            raise BuildError(f"site.{key}: file not found: {path} (restore it, or remove "
                             f"site.{key} from probes.yaml)")
        found[brand_href(key, path)] = src
    return found


def _write_and_publish(files: dict[str, str], out_dir: Path, static_dir: Path,
                       brand: Mapping[str, Path] | None = None) -> BuildReport:
    with _locked(out_dir):
        version = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{_VERSION_MARK}",
                                        dir=out_dir.parent))
        try:
            version.chmod(0o755)  # mkdtemp makes it private; a web server must read it
            shutil.copytree(static_dir, version / "static")
            for rel, src in (brand or {}).items():  # site.logo, favicon, custom_css
                (version / rel).parent.mkdir(exist_ok=True)
                shutil.copyfile(src, version / rel)
            (version / "badges").mkdir()
            (version / "services").mkdir()
            (version / "embed").mkdir()
            (version / "feeds").mkdir()
            for rel, text in files.items():
                (version / rel).write_text(text, encoding="utf-8")
            sizes = {p.relative_to(version).as_posix(): p.stat().st_size
                     for p in version.rglob("*") if p.is_file()}
            publish(version, out_dir)
        except BaseException:
            if not (out_dir.is_symlink() and os.readlink(out_dir) == version.name):
                shutil.rmtree(version, ignore_errors=True)
            raise
    return BuildReport(out_dir, version, tuple(sorted(sizes)), sizes)


def build_from_ledger(
    config: Config,
    ledger: Ledger,
    windows: Sequence[Window],
    now: datetime,
    out_dir: Path,
    *,
    languages: Sequence[str] = LANGUAGES,
) -> BuildReport:
    """Gather from the ledger at ``now`` and build: what ``upwatch build-page`` and the
    rebuild loop of ``upwatch run`` call. ``windows``: those declared at run time."""
    return build_site(gather(config, ledger, now, windows), out_dir, languages=languages)
