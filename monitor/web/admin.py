"""The admin API of ``upwatch run``: declare, list and cancel maintenance windows and exclusions.

Mounted under :data:`ADMIN_PREFIX` as an aiohttp sub-application (:func:`admin_app`);
described by ``docs/openapi.yaml``. Every answer, errors included, is JSON.

Access: a bearer token from ``UPWATCH_ADMIN_TOKEN`` (one token, named ``admin``) or
``UPWATCH_ADMIN_TOKEN_FILE`` (``name:token`` lines, or a bare token named ``admin``), read once
by :func:`load_admin_tokens`. Tokens are compared through SHA-256 digests with
``hmac.compare_digest``, against every configured token. With no token configured the API is
disabled: every request under the prefix gets 503 and a message saying how to enable it.

Handlers only translate HTTP: the rules are in :mod:`monitor.windows.declarations`, and every ledger
call runs in the ledger writer's thread (``writer.read``, or ``writer.write`` for a change).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast, get_args

from aiohttp import web

from monitor.config import Config
from monitor.core.clock import Clock
from monitor.core.windows import WindowKind
from monitor.errors import UpwatchError
from monitor.store.ledger import LedgerError
from monitor.store.writer import LedgerWriter
from monitor.web.apidoc import OPENAPI_CONTENT_TYPE, OpenApiDocument, load_openapi
from monitor.windows.declarations import (
    KIND_LABEL,
    TEXT_FIELD,
    DeclarationError,
    StateFilter,
    UnknownWindow,
    cancel,
    declare,
    get_declared,
    list_declared,
    window_json,
)

__all__ = [
    "ADMIN_PREFIX", "MAX_BODY_BYTES", "MIN_TOKEN_LENGTH", "OPENAPI_PATH", "RESULTS_PATH",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV", "AdminRuntime", "AdminTokenError", "AdminTokens", "OnChange", "admin_app",
    "bearer_name", "load_admin_tokens", "parse_token_file", "read_bounded",
]

log = logging.getLogger("upwatch.api")

ADMIN_PREFIX = "/api/v1"
#: The API's OpenAPI document (docs/openapi.yaml), served without a token.
OPENAPI_PATH = f"{ADMIN_PREFIX}/openapi.yaml"
#: Where probers push results, with their location's token instead of an admin token
#: (:mod:`monitor.web.results`).
RESULTS_PATH = f"{ADMIN_PREFIX}/results"
MAX_BODY_BYTES = 64 * 1024
MIN_TOKEN_LENGTH = 16
TOKEN_ENV = "UPWATCH_ADMIN_TOKEN"
TOKEN_FILE_ENV = "UPWATCH_ADMIN_TOKEN_FILE"
DISABLED_MESSAGE = (
    f"the admin API is disabled: set {TOKEN_ENV} to a token (at least {MIN_TOKEN_LENGTH} "
    f"characters), or {TOKEN_FILE_ENV} to a file of name:token lines, and restart upwatch run"
)
_REALM = 'Bearer realm="upwatch admin"'
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
_COLLECTION: dict[WindowKind, str] = {"maintenance": "maintenance", "exclusion": "exclusions"}
_KEY_HINTS = {
    "declared_at": "set by upwatch to the time of the request; leave it out",
    "declared_by": "set by upwatch from the token's name; leave it out",
    "rrule": "recurring windows are declared in probes.yaml; the API takes one-off windows",
    "duration": "give end instead (the API takes one-off windows from start to end)",
    "timezone": "write start and end with a UTC offset such as Z or +02:00",
}


class AdminTokenError(UpwatchError):
    """The admin token settings are unusable; the message names the setting and the fix."""


@dataclass(frozen=True)
class AdminTokens:
    """The configured tokens: (name, SHA-256 digest of the token)."""

    digests: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, pairs: Mapping[str, str]) -> AdminTokens:
        """From ``{name: token}``."""
        return cls(tuple((name, _digest(token)) for name, token in pairs.items()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.digests)

    def name_for(self, presented: str) -> str | None:
        """The name of the token ``presented`` matches, comparing in constant time with all."""
        given = _digest(presented)
        found = None
        for name, digest in self.digests:
            if hmac.compare_digest(given, digest) and found is None:
                found = name
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _check_token(token: str, where: str) -> None:
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise AdminTokenError(
            f"{where}: a token must be at least {MIN_TOKEN_LENGTH} characters without spaces "
            f"(make one with: {_MAKE_ONE})")


def parse_token_file(text: str, source: str) -> AdminTokens:
    """``name:token`` lines (a bare token is named ``admin``); ``#`` comments, blank lines."""
    pairs: dict[str, str] = {}
    lines: dict[str, int] = {}
    seen: dict[bytes, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        name, token = (name.strip(), token.strip()) if sep else ("admin", line)
        where = f"{source}:{number}"
        if not _NAME.fullmatch(name):
            raise AdminTokenError(f'{where}: a token name is 1-64 letters, digits, ".", "_", '
                                  f'"-" or "@", got {json.dumps(name)}')
        _check_token(token, where)
        if name in pairs:
            raise AdminTokenError(f'{where}: duplicate token name "{name}" (also line '
                                  f"{lines[name]})")
        if _digest(token) in seen:
            raise AdminTokenError(f"{where}: the same token as line {seen[_digest(token)]}")
        pairs[name], lines[name], seen[_digest(token)] = token, number, number
    if not pairs:
        raise AdminTokenError(f"{source}: holds no token (write name:token lines)")
    return AdminTokens.of(pairs)


def load_admin_tokens(environ: Mapping[str, str]) -> AdminTokens | None:
    """The tokens set by ``UPWATCH_ADMIN_TOKEN`` or ``UPWATCH_ADMIN_TOKEN_FILE``; None if unset.

    Raises :class:`AdminTokenError` when both are set, the file cannot be read, or a token is
    too short. An empty variable counts as unset.
    """
    token, path = environ.get(TOKEN_ENV, ""), environ.get(TOKEN_FILE_ENV, "")
    if token and path:
        raise AdminTokenError(f"set {TOKEN_ENV} or {TOKEN_FILE_ENV}, not both")
    if token:
        _check_token(token.strip(), TOKEN_ENV)
        return AdminTokens.of({"admin": token.strip()})
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise AdminTokenError(f"{TOKEN_FILE_ENV}: cannot read {path}: {reason}") from None
    return parse_token_file(text, path)


class AdminRuntime(Protocol):
    """What the admin API needs of ``upwatch run`` (``monitor.web.app.Runtime`` has it)."""

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def writer(self) -> LedgerWriter: ...


#: Called after a window is declared or cancelled (``upwatch run`` refreshes the SLA figures
#: and /healthz's ``maintenance_active`` with it); awaited before the answer is sent.
OnChange = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Admin:
    runtime: AdminRuntime
    tokens: AdminTokens | None
    on_change: OnChange | None = None
    openapi: OpenApiDocument | None = None


_ADMIN = web.AppKey("upwatch_admin", _Admin)
CALLER = web.RequestKey("upwatch_admin_caller", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than success, turned into JSON by the middleware."""

    def __init__(self, status: int, message: str, problems: tuple[str, ...] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems
        self.headers = dict(headers or {})


def json_reply(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer (UTF-8 kept as is), shared by every admin API route."""
    return web.json_response(body, status=status, headers=headers,
                             dumps=functools.partial(json.dumps, ensure_ascii=False))


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        methods = sorted(exc.allowed_methods)
        return ApiError(405, f"{request.method} is not allowed on {request.path} "
                             f"(allowed: {', '.join(methods)})",
                        headers={"Allow": ",".join(methods)})
    if isinstance(exc, web.HTTPNotFound):
        return ApiError(404, f"no such endpoint: {request.method} {request.path} "
                             "(see docs/openapi.yaml)")
    return ApiError(exc.status, exc.reason)


def bearer_name(request: web.Request, tokens: AdminTokens, *, realm: str = _REALM,
                whose: str = "") -> str:
    """The name of the token the request's ``Authorization: Bearer`` header carries; 401 (with
    ``WWW-Authenticate`` for ``realm``) when it has none or one ``tokens`` does not know.
    ``whose`` says in the errors whose token is expected."""
    scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, 'missing bearer token: send the header "Authorization: Bearer '
                            f'<token>"{whose}', headers={"WWW-Authenticate": realm})
    name = tokens.name_for(presented.strip())
    if name is None:
        raise ApiError(401, "invalid bearer token" + (": no location has this token"
                                                      if whose else ""),
                       headers={"WWW-Authenticate": f'{realm}, error="invalid_token"'})
    return name


def _authenticate(request: web.Request, tokens: AdminTokens) -> str:
    return f"api:{bearer_name(request, tokens)}"


def _error_reply(err: ApiError) -> web.Response:
    body: dict[str, object] = {"error": err.message}
    if err.problems:
        body["problems"] = list(err.problems)
    return json_reply(err.status, body, err.headers)


@web.middleware
async def _last_resort(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any exception nothing else answered → a JSON 500 and the traceback in the log.

    A last resort: every failure upwatch expects has its own answer (see :func:`_guard`)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise  # aiohttp's own answers (already turned into JSON by _guard where it runs)
    except Exception:
        log.exception("admin API: %s %s failed unexpectedly", request.method, request.path)
        return _error_reply(ApiError(
            500, "internal error: upwatch could not answer this request; the reason is in "
                 "its log"))


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Disabled → 503; no or wrong token → 401; every error as ``{"error": ...}``."""
    admin = request.config_dict[_ADMIN]
    try:
        # the API's description needs no token; pushed results carry a location's token
        if request.path not in (OPENAPI_PATH, RESULTS_PATH):
            if admin.tokens is None:
                raise ApiError(503, DISABLED_MESSAGE)
            request[CALLER] = _authenticate(request, admin.tokens)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            raise _http_error(request, exc) from None
        except LedgerError as exc:
            log.error("admin API: %s %s failed: %s", request.method, request.path, exc)
            raise ApiError(500, f"the ledger failed: {exc}") from None
    except ApiError as err:
        return _error_reply(err)


async def read_bounded(request: web.Request, limit: int, too_large: str) -> bytes:
    """The request body as sent, or 413 with ``too_large`` past ``limit`` bytes (stopping
    there, whatever Content-Length claimed)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, too_large)
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > limit:
            raise ApiError(413, too_large)
    return bytes(data)


async def read_json(request: web.Request) -> object:
    data = await read_bounded(request, MAX_BODY_BYTES,
                              f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise ApiError(400, f"malformed JSON: {err}") from None


def _fields(kind: WindowKind, body: object) -> dict[str, Any]:
    allowed = ("services", "start", "end", TEXT_FIELD[kind])
    if not isinstance(body, dict):
        raise ApiError(400, f"invalid {KIND_LABEL[kind]}", (
            f"body: expected a JSON object with {', '.join(allowed)}",))
    problems = tuple(
        f"{key}: {_KEY_HINTS[key]}" if key in _KEY_HINTS
        else f"{json.dumps(key)}: unknown key (allowed: {', '.join(sorted(allowed))})"
        for key in body if key not in allowed)
    if problems:
        raise ApiError(400, f"invalid {KIND_LABEL[kind]}", problems)
    return cast(dict[str, Any], body)


def _admin(request: web.Request) -> AdminRuntime:
    return request.config_dict[_ADMIN].runtime


async def _changed(request: web.Request) -> None:
    """Tell ``upwatch run`` a window changed (it refreshes what shows windows in force); the
    change is stored, so a failure here is logged, not answered."""
    on_change = request.config_dict[_ADMIN].on_change
    if on_change is None:
        return
    try:
        await on_change()
    except Exception:
        log.exception("admin API: refreshing the SLA figures after %s %s failed",
                      request.method, request.path)


async def _openapi(request: web.Request) -> web.Response:
    doc = request.config_dict[_ADMIN].openapi
    if doc is None or doc.body is None:
        problem = "the OpenAPI document is missing" if doc is None else doc.problem
        log.error("admin API: %s", problem)
        raise ApiError(500, problem)
    return web.Response(body=doc.body, content_type=OPENAPI_CONTENT_TYPE, charset="utf-8")


async def _create(kind: WindowKind, request: web.Request) -> web.Response:
    fields = _fields(kind, await read_json(request))
    runtime, by = _admin(request), request[CALLER]
    now = runtime.clock.now()
    try:
        window = await runtime.writer.write(functools.partial(
            declare, config=runtime.config, kind=kind, services=fields.get("services"),
            start=fields.get("start"), end=fields.get("end"),
            text=fields.get(TEXT_FIELD[kind]), now=now, by=by))
    except DeclarationError as err:
        raise ApiError(400, f"invalid {KIND_LABEL[kind]}", err.problems) from None
    log.info("%s %s declared by %s: %s", KIND_LABEL[kind], window.id, by,
             "; ".join(window.warnings) or "no warnings")
    await _changed(request)
    location = f"{ADMIN_PREFIX}/{_COLLECTION[kind]}/{window.id}"
    return json_reply(201, window_json(window), {"Location": location})


async def _list(kind: WindowKind, request: web.Request) -> web.Response:
    query = request.query
    states = get_args(StateFilter)
    unknown = [k for k in query if k not in ("state", "service")]
    if unknown:
        raise ApiError(400, f'unknown query parameter "{unknown[0]}" (allowed: service, state)')
    state = query.get("state")
    if state is not None and state not in states:
        raise ApiError(400, f'state: expected one of {", ".join(states)}, got "{state}"')
    runtime = _admin(request)
    now = runtime.clock.now()
    found = await runtime.writer.read(functools.partial(
        list_declared, kind=kind, now=now, state=cast(StateFilter | None, state),
        service=query.get("service")))
    return json_reply(200, {_COLLECTION[kind]: [window_json(w) for w in found]})


async def _get(kind: WindowKind, request: web.Request) -> web.Response:
    runtime = _admin(request)
    try:
        window = await runtime.writer.read(functools.partial(
            get_declared, kind=kind, window_id=request.match_info["id"]))
    except UnknownWindow as err:
        raise ApiError(404, str(err)) from None
    return json_reply(200, window_json(window))


async def _delete(kind: WindowKind, request: web.Request) -> web.Response:
    runtime, by = _admin(request), request[CALLER]
    now = runtime.clock.now()
    try:
        window, changed = await runtime.writer.write(functools.partial(
            cancel, kind=kind, window_id=request.match_info["id"], now=now, by=by))
    except UnknownWindow as err:
        raise ApiError(404, str(err)) from None
    if changed:
        log.info("%s %s cancelled by %s", KIND_LABEL[kind], window.id, by)
        await _changed(request)
    return json_reply(200, window_json(window))


def admin_app(
    runtime: AdminRuntime, tokens: AdminTokens | None, *, on_change: OnChange | None = None,
    openapi: OpenApiDocument | None = None,
) -> web.Application:
    """The admin API as a sub-application (routes relative to :data:`ADMIN_PREFIX`).

    ``on_change`` is awaited after a window is declared or cancelled; ``openapi`` is the
    document served at :data:`OPENAPI_PATH` (read by :func:`load_openapi` when not given)."""
    app = web.Application(middlewares=[_last_resort, _guard], client_max_size=MAX_BODY_BYTES)
    app[_ADMIN] = _Admin(runtime, tokens, on_change,
                         load_openapi() if openapi is None else openapi)
    app.router.add_get(OPENAPI_PATH.removeprefix(ADMIN_PREFIX), _openapi)
    for kind, name in _COLLECTION.items():
        app.router.add_get(f"/{name}", functools.partial(_list, kind))
        app.router.add_post(f"/{name}", functools.partial(_create, kind))
        app.router.add_get(f"/{name}/{{id}}", functools.partial(_get, kind))
        app.router.add_delete(f"/{name}/{{id}}", functools.partial(_delete, kind))
    return app
