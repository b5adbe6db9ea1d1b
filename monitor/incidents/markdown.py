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

_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^()\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s\"'<>]+", re.IGNORECASE)
_ITEM = re.compile(r"^\s*[-*] +(.*)$")


def _inline(text: str) -> str:
    """One line's inline markup; ``text`` is raw (escaped here)."""
    codes: list[str] = []

    def keep_code(m: re.Match[str]) -> str:
        codes.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep_code, text.replace("\x00", ""))
    out = html.escape(text, quote=True)

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1), html.unescape(m.group(2))
        if not _SAFE_URL.fullmatch(url):
            return m.group(0)
        href = html.escape(url, quote=True)
        return f'<a href="{href}" rel="nofollow noopener">{label}</a>'

    out = _LINK.sub(link, out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _EM.sub(r"<em>\1</em>", out)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], out)


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
