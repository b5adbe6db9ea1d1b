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
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
from jinja2.ext import Extension

from statuspage.i18n import translations

__all__ = ["TEMPLATE_DIR", "Translated", "environment"]

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


@cache
def environment(lang: str) -> jinja2.Environment:
    """The Jinja2 environment of one language: autoescape on, gettext installed, argument-less
    messages translated at compile time (:class:`Translated`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n", Translated],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.upwatch_lang = lang  # type: ignore[attr-defined]
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env
