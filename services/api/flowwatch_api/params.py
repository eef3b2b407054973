"""Query parameters of the ``/v1`` routes: an unknown one is a 400 naming it, never silently ignored.

``reject_unknown_query`` is a dependency added to every ``/v1`` router by ``create_app``. It depends on the
caller's authentication first (401 before 400: an unauthenticated caller learns nothing about a route's
parameters), then compares the request's query keys with the parameters the route declares (its own and
those of its dependencies, by their public name, e.g. ``from`` for ``from_``).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status

from flowwatch_api.auth import CurrentPrincipal
from flowwatch_api.problems import UNKNOWN_PARAMETER

_known: dict[int, frozenset[str]] = {}


class UnknownParameter(HTTPException):
    """400 for a query parameter the route does not take; rendered as the ``unknown-query-parameter``
    problem with the name in ``parameter``."""

    def __init__(self, name: str, known: frozenset[str]) -> None:
        accepted = ", ".join(sorted(known)) or "none"
        super().__init__(status_code=status.HTTP_400_BAD_REQUEST,
                         detail=f"unknown query parameter {name!r} (accepted: {accepted})")
        self.problem: dict[str, Any] = {"type_": UNKNOWN_PARAMETER, "title": "Unknown query parameter",
                                        "parameter": name}


def declared_query(route: Any) -> frozenset[str]:
    """Public names of every query parameter ``route`` (a FastAPI ``APIRoute``) declares (cached)."""
    key = id(route)
    if key not in _known:
        names: set[str] = set()
        stack = [getattr(route, "dependant", None)]
        while stack:
            dependant = stack.pop()
            if dependant is None:
                continue
            names.update(p.alias for p in dependant.query_params)
            stack.extend(dependant.dependencies)
        _known[key] = frozenset(names)
    return _known[key]


def reject_unknown_query(request: Request, _principal: CurrentPrincipal) -> None:
    """Raise ``UnknownParameter`` (400) for the first query key the matched route does not declare."""
    route = request.scope.get("route")
    if route is None:
        return
    known = declared_query(route)
    for name in request.query_params:
        if name not in known:
            raise UnknownParameter(name, known)
