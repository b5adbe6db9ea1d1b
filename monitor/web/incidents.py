"""The admin API routes ``/api/v1/incidents`` (:func:`add_incident_routes`).

They are added to the maintenance admin sub-application (``monitor.web.admin.admin_app``), so they
share its bearer tokens, body limit and JSON errors; the work is the
:class:`~monitor.incidents.desk.IncidentDesk`'s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from monitor.config.durations import show
from monitor.incidents.desk import (
    MAX_INCIDENT_ID,
    IncidentDesk,
    IncidentInputError,
    incident_json,
)
from monitor.web.admin import CALLER, ApiError, json_reply, read_json

__all__ = ["add_incident_routes"]

log = logging.getLogger("upwatch.incidents")

_DESK = web.AppKey("upwatch_incident_desk", IncidentDesk)
_LIST_STATES = ("open", "all")


def _fields(body: object, allowed: Sequence[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid incident", (
            f"body: expected a JSON object with {', '.join(allowed)}",))
    unknown = [f'{json.dumps(k)}: unknown key (allowed: {", ".join(sorted(allowed))})'
               for k in body if k not in allowed]
    if unknown:
        raise ApiError(400, "invalid incident", tuple(unknown))
    return body


async def _create(request: web.Request) -> web.Response:
    fields = _fields(await read_json(request),
                     ("title", "services", "impact", "status", "body"))
    desk = request.config_dict[_DESK]
    try:
        inc = await desk.open(title=fields.get("title"), services=fields.get("services"),
                              impact=fields.get("impact", "major"),
                              status=fields.get("status", "investigating"),
                              body=fields.get("body", ""), by=request[CALLER])
    except IncidentInputError as err:
        raise ApiError(400, "invalid incident", err.problems) from None
    log.info("incident %d opened by %s", inc.id, request[CALLER])
    return json_reply(201, incident_json(inc), {"Location": f"/api/v1/incidents/{inc.id}"})


def _incident_id(request: web.Request) -> int:
    """The id in the path; 404 for anything but ASCII digits (not "²", not "١") or an id no
    incident can have (past SQLite's integers: ``int()`` of 5,000 digits fails, too)."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(404, f"no incident {show(raw)} (ids are numbers)")
    digits = raw.lstrip("0")
    if len(digits) > len(str(MAX_INCIDENT_ID)) or int(digits or "0") > MAX_INCIDENT_ID:
        raise ApiError(404, f"no incident {raw if len(raw) <= 40 else raw[:37] + '...'}")
    return int(digits or "0")


async def _post_update(request: web.Request) -> web.Response:
    fields = _fields(await read_json(request), ("status", "body"))
    desk, iid = request.config_dict[_DESK], _incident_id(request)
    try:
        posted = await desk.update(iid, status=fields.get("status"), body=fields.get("body"),
                                   by=request[CALLER])
    except IncidentInputError as err:
        raise ApiError(400, "invalid incident update", err.problems) from None
    if posted is None:
        raise ApiError(404, f"no incident {iid}")
    inc, update = posted
    return json_reply(201, {"incident": incident_json(inc), "update_id": update.id},
                 {"Location": f"/api/v1/incidents/{inc.id}"})


async def _list(request: web.Request) -> web.Response:
    state = request.query.get("state", "all")
    if state not in _LIST_STATES or set(request.query) - {"state"}:
        raise ApiError(400, f"query: state=open|all only, got {request.query_string!r}")
    found = await request.config_dict[_DESK].find(open_only=state == "open")
    return json_reply(200, {"incidents": [incident_json(i) for i in found]})


async def _get(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    found = await request.config_dict[_DESK].get(iid)
    if found is None:
        raise ApiError(404, f"no incident {iid}")
    return json_reply(200, incident_json(found))


def add_incident_routes(admin: web.Application, desk: IncidentDesk) -> None:
    """Add ``/incidents`` routes to the admin sub-app (before it is mounted)."""
    admin[_DESK] = desk
    admin.router.add_get("/incidents", _list)
    admin.router.add_post("/incidents", _create)
    admin.router.add_get("/incidents/{id}", _get)
    admin.router.add_post("/incidents/{id}/updates", _post_update)
