"""The status page's subscribe form, confirm and unsubscribe links, served by ``upwatch run``.

Under the path of ``site.subscribe_url`` (default ``/subscribe``):

- ``POST <path>``: a request, as the page's form sends it (``email`` or ``webhook``, ``service``
  repeated, none meaning all, and ``lang``) or as JSON (``{"email": …, "services": […]}``);
- ``GET <path>/confirm/<token>``: a page with a button that POSTs the confirmation (a link
  scanner opening the mail's link confirms nothing); ``POST`` confirms;
- ``GET <path>/unsubscribe/<token>``: the same for leaving; ``POST`` unsubscribes, also as the
  one-click unsubscribe of mail clients (RFC 8058).

HTML answers are the built ``subscribe.html`` of the visitor's language (the status page's own
look), showing the part that fits (``data-show``). JSON answers, for a JSON request or one
that accepts only JSON: ``202`` sent, ``400`` with the problems, ``429`` limited (with
``Retry-After``), ``404`` unknown link. The answer to a request never says whether the address
was already subscribed. Pages carry ``Referrer-Policy: no-referrer`` (the token is in their URL)
and refuse to be framed.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from monitor.notify.signup import TOKEN_PATTERN, Limited, Request, SignupError
from monitor.store.subscribers import Subscriber

__all__ = ["Signups", "add_subscribe_routes", "route_path"]

log = logging.getLogger(__name__)
_FORM_FIELDS = ("email", "webhook", "lang")
_MAX_SERVICES = 10_000
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}


class Signups(Protocol):
    """What the handlers call (``monitor.notify.signup.SignupDesk``)."""

    def check(self, *, email: str = "", webhook: str = "",
              services: Sequence[str] = ()) -> Request: ...

    async def subscribe(self, request: Request, client: str, lang: str | None = None) -> None: ...

    async def confirm(self, token: str) -> Subscriber | None: ...

    async def unsubscribe(self, token: str) -> Subscriber | None: ...


#: The built subscribe page in a language (None: no page yet), bytes as published.
PageFn = Callable[[str | None], Awaitable[bytes | None]]


def route_path(subscribe_url: str) -> str:
    """The path the routes live under: that of ``subscribe_url``, else ``/subscribe``."""
    path = urlsplit(subscribe_url).path.rstrip("/")
    return path or "/subscribe"


def _wants_json(request: web.Request) -> bool:
    if request.content_type == "application/json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json(status: int, body: dict[str, object], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={**_HEADERS, **headers})


class _Pages:
    def __init__(self, page: PageFn, base_href: str) -> None:
        self._page, self._base = page, base_href

    async def answer(self, show: str, status: int, *, lang: str | None = None, token: str = "",
               problems: Sequence[str] = (), message: str = "") -> web.Response:
        built = await self._page(lang)
        if built is None:  # the page is being built: say it in JSON
            return _json(status, {"status": show, "message": message})
        text = built.decode("utf-8")
        text = text.replace('data-show="form"', f'data-show="{show}"', 1)
        text = text.replace("<!--upwatch:base-->",
                            f'<base href="{html.escape(self._base, quote=True)}">', 1)
        text = text.replace("__UPWATCH_TOKEN__", token)  # matched TOKEN_PATTERN: safe as is
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
            text = text.replace("<!--upwatch:problems-->", f"<ul>{items}</ul>", 1)
        return web.Response(text=text, status=status, content_type="text/html",
                            charset="utf-8", headers=_HEADERS)


async def _fields(request: web.Request) -> tuple[dict[str, str], list[str]] | None:
    """The request's fields and services; None when the body cannot be read."""
    if request.content_type == "application/json":
        try:
            raw = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError, web.HTTPException):
            return None
        if not isinstance(raw, dict):
            return None
        services = raw.get("services", [])
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            return None
        fields = {k: raw[k] for k in _FORM_FIELDS if isinstance(raw.get(k), str)}
        return fields, services[:_MAX_SERVICES]
    try:
        form = await request.post()
    except (ValueError, web.HTTPException):
        return None
    fields = {k: v for k in _FORM_FIELDS if isinstance(v := form.get(k), str)}
    services = [s for s in form.getall("service", []) if isinstance(s, str)]
    return fields, services[:_MAX_SERVICES]


def add_subscribe_routes(app: web.Application, desk: Signups, subscribe_url: str,
                         page: PageFn, base_href: str, languages: Sequence[str]) -> None:
    """The subscription routes on ``app`` (before any catch-all route)."""
    pages = _Pages(page, base_href)
    known = set(languages)

    def lang_of(value: str | None) -> str | None:
        return value if value in known else None

    async def subscribe(request: web.Request) -> web.Response:
        as_json = _wants_json(request)
        got = await _fields(request)
        if got is None:
            return _json(400, {"error": "bad_request", "message":
                               "send a form (email=…&service=…) or a JSON object "
                               '{"email": "…", "services": ["…"]}'})
        fields, services = got
        lang = lang_of(fields.get("lang"))
        try:
            wanted = desk.check(email=fields.get("email", ""),
                                webhook=fields.get("webhook", ""), services=services)
            await desk.subscribe(wanted, request.remote or "unknown", lang)
        except SignupError as err:
            if as_json:
                return _json(400, {"error": "bad_request", "problems": list(err.problems)})
            return await pages.answer("invalid", 400, lang=lang, problems=err.problems)
        except Limited as err:
            if as_json:
                return _json(429, {"error": "rate_limited", "message": str(err)},
                             **{"Retry-After": "3600"})
            return await pages.answer("limited", 429, lang=lang, message=str(err))
        message = "if the address can take it, a confirmation link is on its way"
        if as_json:
            return _json(202, {"status": "confirmation_sent", "message": message})
        return await pages.answer("sent", 200, lang=lang, message=message)

    async def confirm(request: web.Request) -> web.Response:
        token, lang = request.match_info["token"], lang_of(request.query.get("lang"))
        if request.method == "GET":
            return await pages.answer("confirm", 200, lang=lang, token=token)
        found = await desk.confirm(token)
        if found is None:
            if _wants_json(request):
                return _json(404, {"error": "not_found", "message": "this link is no longer "
                                   "valid: the request expired, or its subscriber left"})
            return await pages.answer("expired", 404, lang=lang)
        if _wants_json(request):
            return _json(200, {"status": "confirmed", "services": list(found.services)})
        return await pages.answer("confirmed", 200, lang=lang, token=token)

    async def unsubscribe(request: web.Request) -> web.Response:
        token, lang = request.match_info["token"], lang_of(request.query.get("lang"))
        if request.method == "GET":
            return await pages.answer("unsubscribe", 200, lang=lang, token=token)
        await desk.unsubscribe(token)  # the same answer when it was gone already
        if _wants_json(request):
            return _json(200, {"status": "unsubscribed"})
        return await pages.answer("unsubscribed", 200, lang=lang)

    base = route_path(subscribe_url)
    app.router.add_post(base, subscribe)
    for action, handler in (("confirm", confirm), ("unsubscribe", unsubscribe)):
        path = f"{base}/{action}/{{token:{TOKEN_PATTERN}}}"
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
