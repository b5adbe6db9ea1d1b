"""The Jinja2 environments of the page, one per language, each with its messages translated
once, when a template is compiled, rather than at every use.

A template says ``{{ _("Response times") }}``; with the ``i18n`` extension (``newstyle``) each
such call looks the message up, marks it safe and formats it, for every service of every page
of every build: a fifth of the rendering. :class:`Translated` replaces each ``{{ _("…") }}``
without arguments by its translation in the template's source before Jinja compiles it (a
Jinja ``preprocess`` hook): the very text the call would have put there (a translation is placed
unescaped, as ``newstyle`` gettext marks it safe). A message with arguments, or whose translation
holds ``%``, ``{`` or ``}`` or is blank, is left to the call. The templates' sources are
unchanged, so ``pybabel extract`` finds every message as before.

Compiled templates are kept between processes (:func:`bytecode_cache`): compiling the five
languages' templates took 0.1 s of every ``upwatch build-page``.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket
from jinja2.ext import Extension

from statuspage.i18n import LOCALE_DIR, translations

__all__ = ["TEMPLATE_DIR", "Translated", "bytecode_cache", "environment", "make_environment"]

TEMPLATE_DIR = Path(__file__).parent / "templates"

#: ``{{ _("message") }}`` or ``{{ _('message') }}``: a literal without escapes, no arguments.
_CALL = re.compile(r"""\{\{-?\s*_\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)\s*-?\}\}""")


class Translated(Extension):
    """Puts each argument-less ``_()`` call's translation in the template's source."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        lang = getattr(self.environment, "upwatch_lang", None)
        if lang is None:
            return source
        t = translations(lang)

        def translated(found: re.Match[str]) -> str:
            if found.group(0).startswith("{{-") or found.group(0).endswith("-}}"):
                return found.group(0)  # whitespace control: leave it to Jinja
            text = t.gettext(found.group(1) if found.group(1) is not None else found.group(2))
            if not text.strip() or any(ch in text for ch in "%{}"):
                return found.group(0)
            return text

        return _CALL.sub(translated, source)


class _Kept(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in files, which never fails a build: a file it
    cannot read is compiled again, one it cannot write is not kept."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass  # a full or read-only disk: compiled again next time


def bytecode_cache(lang: str, directory: str | None = None) -> jinja2.BytecodeCache | None:
    """Where ``lang``'s compiled templates are kept: Jinja's own folder in the system's
    temporary directory (``_jinja2-cache-<uid>``, made for this user alone; Jinja refuses a
    folder another user could write to), in files named by the language and by everything
    that goes into the compiled code besides the template's source (which Jinja checks
    itself): the messages translated into it, this module's rules for doing so, Jinja's
    version. None when there is no such folder to be had: then templates are compiled.
    ``directory``: another folder (tests)."""
    what = hashlib.sha256(jinja2.__version__.encode() + Path(__file__).read_bytes())
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if po.is_file():
        what.update(po.read_bytes())
    try:
        return _Kept(directory, f"__upwatch_{lang}_{what.hexdigest()[:20]}_%s.cache")
    except (OSError, RuntimeError):  # no temporary directory, or one that is not safe
        return None


@cache
def environment(lang: str) -> jinja2.Environment:
    """The Jinja2 environment of one language: autoescape on, gettext installed, argument-less
    messages translated at compile time (:class:`Translated`), compiled templates kept
    between processes (:func:`bytecode_cache`)."""
    return make_environment(lang, bytecode_cache(lang))


def make_environment(lang: str, kept: jinja2.BytecodeCache | None) -> jinja2.Environment:
    """A new :func:`environment` of ``lang`` whose compiled templates are ``kept`` there."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n", Translated],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=kept,
    )
    env.upwatch_lang = lang  # type: ignore[attr-defined]
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env
