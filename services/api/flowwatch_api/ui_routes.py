"""Web UI for SOC analysts at ``/ui``: a dependency-free single-page app (vanilla JS, no build step).

The static files live in the package folder ``flowwatch_api/ui`` (package data) and hold no data: the app asks
for an API key, keeps it in ``sessionStorage`` and sends it as ``Authorization: Bearer`` on every ``/v1`` call.
So these routes need no key. ``/ui`` redirects to ``/ui/`` (``index.html``); ``/ui/<name>`` serves one file of
the folder by its exact name (no sub-folders, no path traversal); anything else is a 404. The routes are not
part of the OpenAPI schema.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
"""Served file kinds (the package data patterns of pyproject.toml) and their content types."""
HEADERS: dict[str, str] = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def ui_dir() -> Path:
    """The folder of the UI's static files inside the installed package."""
    return Path(str(files("flowwatch_api").joinpath("ui")))


@cache
def assets() -> dict[str, Path]:
    """File name → path of every servable file of the UI folder (read once per process)."""
    folder = ui_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}


def _file(name: str) -> FileResponse:
    path = assets().get(name)
    if path is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="not found")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.get("/ui")
def ui_root(request: Request) -> RedirectResponse:
    """``/ui`` → ``/ui/`` (so the page's relative asset links resolve under ``/ui/``)."""
    return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/ui/")
def ui_index() -> FileResponse:
    """The single page (``index.html``)."""
    return _file("index.html")


@router.get("/ui/{name}")
def ui_asset(name: str) -> FileResponse:
    """One static file of the UI folder by its exact name; 404 for anything else."""
    return _file(name)
