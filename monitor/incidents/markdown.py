"""A small, safe Markdown subset for incident updates, rendered to HTML.

Supported: paragraphs (blank-line separated; single newlines become ``<br>``), ``- `` lists,
``**bold**``, ``*em*``, `` `code` `` and ``[text](url)`` links whose URL is ``http:``,
``https:`` or ``mailto:``. Everything else is text: all of it is HTML-escaped first, so
``<script>`` shows as written, and a link with any other scheme (``javascript:``, ``data:``)
stays plain text. Links get ``rel="nofollow noopener"``.
"""

from __future__ import annotations

import html
import re

__all__ = ["render"]

# Code spans and links are found in one left-to-right pass over the raw text, so neither can
# end up inside the other's HTML: a backtick inside a link's URL is no code span, and a link
# inside a code span is text. Each becomes finished HTML behind a placeholder; the text
# between them is escaped, then gets bold and emphasis.
_TOKEN = re.compile(r"`(?P<code>[^`\n]+)`|\[(?P<label>[^\]\n]+)\]\((?P<url>[^()\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s\"'<>`]+", re.IGNORECASE)
_ITEM = re.compile(r"^\s*[-*] +(.*)$")
_HOLE = re.compile("\x00(\\d+)\x00")


def _emphasis(escaped: str) -> str:
    return _EM.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", escaped))


def _inline(text: str) -> str:
    """One line's inline markup; ``text`` is raw (escaped here)."""
    pieces: list[str] = []

    def token(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            pieces.append(f"<code>{html.escape(m.group('code'), quote=True)}</code>")
        elif _SAFE_URL.fullmatch(m.group("url")):
            href = html.escape(m.group("url"), quote=True)
            label = _emphasis(html.escape(m.group("label"), quote=True))
            pieces.append(f'<a href="{href}" rel="nofollow noopener">{label}</a>')
        else:  # another scheme: no link; its parts are text (and may hold code spans)
            pieces.append(f"[{_inline(m.group('label'))}]({_inline(m.group('url'))})")
        return f"\x00{len(pieces) - 1}\x00"

    held = _TOKEN.sub(token, text.replace("\x00", ""))
    out = _emphasis(html.escape(held, quote=True))
    return _HOLE.sub(lambda m: pieces[int(m.group(1))], out)


def render(text: str) -> str:
    """The HTML of ``text``: ``<p>`` and ``<ul>`` blocks, safe to place in a page as is."""
    blocks: list[str] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = [line for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        para: list[str] = []
        items: list[str] = []
        for line in lines:
            m = _ITEM.match(line)
            if m:
                if para:
                    blocks.append("<p>" + "<br>".join(para) + "</p>")
                    para = []
                items.append(f"<li>{_inline(m.group(1).strip())}</li>")
            else:
                if items:
                    blocks.append("<ul>" + "".join(items) + "</ul>")
                    items = []
                para.append(_inline(line.strip()))
        if para:
            blocks.append("<p>" + "<br>".join(para) + "</p>")
        if items:
            blocks.append("<ul>" + "".join(items) + "</ul>")
    return "\n".join(blocks)
