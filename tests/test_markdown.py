"""The incident Markdown subset: what renders, and what is escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from monitor.incidents.markdown import render

CASES = [
    ("paragraph", "The database is slow.", "<p>The database is slow.</p>"),
    ("two_paragraphs_and_a_break", "one\ntwo\n\nthree",
     "<p>one<br>two</p>\n<p>three</p>"),
    ("bold_em_code", "**down** for *some* users: `ERR 42`",
     "<p><strong>down</strong> for <em>some</em> users: <code>ERR 42</code></p>"),
    ("list", "Affected:\n- api\n- web", "<p>Affected:</p>\n<ul><li>api</li><li>web</li></ul>"),
    ("https_link", "see [the post](https://example.com/a?b=1&c=2)",
     '<p>see <a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">the post</a>'
     "</p>"),
    ("mailto_link", "[mail us](mailto:ops@example.com)",
     '<p><a href="mailto:ops@example.com" rel="nofollow noopener">mail us</a></p>'),
    ("script_is_text", "<script>alert(1)</script>",
     "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("javascript_link_stays_text", "[click](javascript:alert(1))",
     "<p>[click](javascript:alert(1))</p>"),
    ("javascript_link_any_case", "[x](JavaScript:alert`1`)",
     "<p>[x](JavaScript:alert<code>1</code>)</p>"),
    ("data_link_stays_text", "[x](data:text/html;base64,PHNjcmlwdD4=)",
     "<p>[x](data:text/html;base64,PHNjcmlwdD4=)</p>"),
    ("quote_cannot_leave_href", '[x](https://e.com/"onmouseover="alert(1))',
     "<p>[x](https://e.com/&quot;onmouseover=&quot;alert(1))</p>"),
    ("html_in_link_label_escaped", "[<b>x</b>](https://e.com)",
     '<p><a href="https://e.com" rel="nofollow noopener">&lt;b&gt;x&lt;/b&gt;</a></p>'),
    ("code_keeps_markup_literal", "`**not bold** <i>`",
     "<p><code>**not bold** &lt;i&gt;</code></p>"),
    ("lone_star_is_text", "5 * 3 = 15", "<p>5 * 3 = 15</p>"),
    ("empty", "  \n\n ", ""),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_render(text: str, expected: str) -> None:
    assert render(text) == expected


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, tuple(name for name, _ in attrs)))


@pytest.mark.parametrize("text", [
    'see [x](https://e.com/`" onmouseover="alert(1)" a="`)',  # a code span inside a URL
    "[x](https://e.com/`a`)",
    '[`" onmouseover="x`](https://e.com/)',
    '`[x](https://e.com/" onmouseover="alert(1))`',
    '**[x](https://e.com/"a)**',
    "[x](https://e.com/**b**) *[y](mailto:a@b.c)*",
])
def test_no_markup_can_reach_into_an_attribute(text: str) -> None:
    """Whatever is typed, a browser finds only our tags, and on links only href and rel."""
    parser = _Tags()
    parser.feed(render(text))
    for tag, attrs in parser.seen:
        assert tag in {"p", "br", "ul", "li", "strong", "em", "code", "a"}
        assert attrs == (("href", "rel") if tag == "a" else ())
