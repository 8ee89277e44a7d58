"""/docs and /redoc that work offline: Swagger UI and ReDoc assets are served by the app from the
`fastapi-offline` package's static folder, never from a CDN (surfturf runs where no CDN is)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/docs"


def assets_dir() -> Path:
    """Found without importing the package (its module imports would cost start-up time)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the API docs need the fastapi-offline package (a core dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@lru_cache(maxsize=1)
def _redoc_js() -> bytes:
    """ReDoc's bundle with its one hard-coded remote URL (the sidebar's Redocly logo, fetched
    unconditionally from cdn.redoc.ly) pointed at our own favicon: no request leaves the page."""
    js = (assets_dir() / "redoc.standalone.js").read_bytes()
    return js.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS}/favicon.png".encode())


def install(app: FastAPI) -> None:
    title = f"{app.title} {app.version}"

    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:
        return Response(_redoc_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False)
