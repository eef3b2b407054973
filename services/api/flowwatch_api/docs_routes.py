"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from installed package files, never from a CDN.

FastAPI's default pages load Swagger UI and ReDoc from jsDelivr, which often fails inside mainland China
networks. The assets here come from the PyPI package ``fastapi-offline`` (its ``static`` folder: Swagger UI 5
bundle and CSS, the ReDoc 2 standalone bundle, a favicon); the pages are FastAPI's own HTML helpers pointed at
``/docs/assets/<name>``. ReDoc runs without Google Fonts. None of these routes is in the OpenAPI document.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/docs/assets"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
TITLE = "Flowwatch query service"


@cache
def assets() -> dict[str, Path]:
    """File name → path of the documentation assets inside the installed ``fastapi_offline`` package."""
    folder = Path(str(files("fastapi_offline").joinpath("static")))
    return {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI of ``/openapi.json`` with local assets."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json", title=f"{TITLE} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (inline script only)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc of ``/openapi.json`` with the local bundle and no web fonts."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}/openapi.json", title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png", with_google_fonts=False,
    )


@router.get(ASSETS_PATH + "/{name}")
def doc_asset(name: str) -> FileResponse:
    """One asset by its exact file name (cached for a day); 404 for anything else."""
    path = assets().get(name)
    if path is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="not found")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "public, max-age=86400"})
