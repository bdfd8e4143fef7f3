"""The dashboard's web app: four pages and the JSON API under `/api/` that they call.

The API is described at `/api/openapi.json` (browsable at `/api/docs`, in a Swagger UI the dashboard serves
itself, like the pages' ECharts: the API's page works offline too). A malformed query parameter
answers 422 with a `message` naming it, an unknown asset or location 404, and a warehouse or lake that
does not answer 503; none of them a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import psycopg_pool
import pymongo.errors
from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from market_weather.dashboard import assets
from market_weather.dashboard.data import RANGES, Interval, Lake, NotFound, Range, Warehouse, files, freshness
from market_weather.settings import DashboardSettings

HERE = Path(__file__).resolve().parent
REFRESH_SECONDS = 10
OPENAPI_URL = "/api/openapi.json"
PAGES = {"markets": "Markets", "weather": "Weather & air", "pipeline": "Pipeline", "files": "Files"}
log = logging.getLogger("market_weather.dashboard")

AssetId = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="a CoinCap asset slug")]
LocationId = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a location id")]
RangeParam = Annotated[Range, Query(alias="range", description="how far back from the newest row")]


def _unavailable(store: str) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: the %s did not answer: %s", request.method, request.url.path, store, exc)
        return JSONResponse({"message": f"the {store} does not answer; try again shortly"}, status_code=503)

    return handler


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = "; ".join(f"{err['loc'][-1]}: {err['msg']}" for err in errors)
    return JSONResponse({"message": message, "detail": jsonable_encoder(errors)}, status_code=422)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse({"message": str(exc)}, status_code=404)


def _file(path: Path) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(path)

    return serve


def create_app(settings: DashboardSettings) -> FastAPI:
    if not assets.installed():
        raise assets.AssetsMissing(
            "the dashboard's browser libraries are not installed: run `make setup` "
            "(or python -m market_weather.dashboard.assets)"
        )
    warehouse, lake = Warehouse(settings), Lake(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warehouse.open()
        try:
            lake.snapshot(wait=0)  # the lake's first count starts now, in the background
        except pymongo.errors.PyMongoError:
            pass  # a lake that does not answer yet: the requests say so, and count again
        try:
            yield
        finally:
            warehouse.close()
            lake.close()

    app = FastAPI(
        title="Market and weather platform dashboard",
        summary="Markets, weather and air quality, and the pipeline's health, read from the warehouse and the lake.",
        version="1",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # /api/docs below, on the dashboard's own copy of Swagger UI
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    for error in (psycopg.OperationalError, psycopg_pool.PoolTimeout):
        app.add_exception_handler(error, _unavailable("warehouse"))
    app.add_exception_handler(pymongo.errors.PyMongoError, _unavailable("lake"))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/vendor/echarts", StaticFiles(directory=assets.ECHARTS.parent), name="echarts")
    for file in assets.SWAGGER_UI_FILES:  # of Swagger UI's package, only what the API's page loads
        app.add_api_route(f"/vendor/swagger-ui/{file}", _file(assets.SWAGGER_UI / file), include_in_schema=False)
    templates = Jinja2Templates(directory=HERE / "templates")

    # ------------------------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/markets")

    def page(name: str):
        def render(request: Request) -> Response:
            return templates.TemplateResponse(
                request, f"{name}.html", {"page": name, "pages": PAGES, "refresh_seconds": REFRESH_SECONDS}
            )

        return render

    for name in PAGES:
        app.add_api_route(f"/{name}", page(name), include_in_schema=False, name=f"page_{name}")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return assets.docs_page(OPENAPI_URL, "API · market and weather platform")

    # -------------------------------------------------------------------------------------- api
    @app.get("/api/health", tags=["service"])
    def health() -> dict:
        """Whether the warehouse (as the read-only login) and the lake answer."""
        login = warehouse.ping()
        lake.ping()
        return {"status": "ok", "warehouse_login": login}

    @app.get("/api/markets/prices", tags=["markets"])
    def prices() -> list[dict]:
        """Every asset's newest price, its change over the 24 h before it, and the API's own 24 h change."""
        return warehouse.latest_prices()

    @app.get("/api/markets/candles", tags=["markets"])
    def candles(asset: AssetId, interval: Interval = "1h", range_: RangeParam = "7d") -> dict:
        """One asset's OHLC candles and points per candle, at most the newest 5000 (`truncated` says so)."""
        return warehouse.candles(asset, interval, range_)

    @app.get("/api/weather/locations", tags=["weather"])
    def locations() -> list[dict]:
        """Every location with its newest weather and AQI."""
        return warehouse.locations()

    @app.get("/api/weather/observations", tags=["weather"])
    def weather(location: LocationId, range_: RangeParam = "24h") -> dict:
        """One location's temperature, humidity, pressure, wind and clouds over time."""
        return warehouse.weather(location, range_)

    @app.get("/api/air/observations", tags=["weather"])
    def air(location: LocationId, range_: RangeParam = "24h") -> dict:
        """One location's AQI (1 good to 5 very poor) and pollutant concentrations (µg/m³) over time."""
        return warehouse.air(location, range_)

    @app.get("/api/pipeline/runs", tags=["pipeline"])
    def runs(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict]:
        """The newest runs of the Spark load, newest first."""
        return warehouse.runs(limit)

    @app.get("/api/pipeline/freshness", tags=["pipeline"])
    def source_freshness(range_: RangeParam = "24h") -> dict:
        """Per source, how old its newest data is in the warehouse and in the lake now, and the freshness
        checks' history over the range (counted back from now)."""
        return freshness(warehouse, lake, RANGES[range_])

    @app.get("/api/pipeline/dead-letters", tags=["pipeline"])
    def dead_letters(range_: RangeParam = "24h") -> dict:
        """Dead letters per source and reason per time bucket over the range (back from now), and the newest."""
        return lake.dead_letters(RANGES[range_])

    @app.get("/api/pipeline/lake", tags=["pipeline"])
    def lake_counts() -> dict:
        """Documents per lake collection, as of the latest count (`counted_at`; the lake is counted in the
        background, at most every 30 s, and less often when counting takes long)."""
        return lake.counts()

    @app.get("/api/files", tags=["files"])
    def taken_files(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
        """The newest files taken in (uploaded to the intake or dropped in its folder): status (`received`,
        `in_lake`, `loaded`, or `rejected` / `failed`), counts and first errors; and the files per status."""
        return files(lake, limit)

    @app.get("/api/pipeline/quality", tags=["pipeline"])
    def quality() -> list[dict]:
        """The latest result of every warehouse check (empty until the checks have run)."""
        return warehouse.quality()

    return app
