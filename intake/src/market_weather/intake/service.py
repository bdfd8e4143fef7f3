"""The intake service: files uploaded over HTTP, behind a login, taken in as the drop folder's are.

`POST /api/files` reads a multipart upload as it streams: its `file` part goes straight into the store (hashed,
refused at FILE_MAX_BYTES while it streams: a Content-Length above it is refused before a byte is read), its
`asset` and `location` fields name what the file's own name or coordinates do not. The file is then read whole,
so the answer refuses it (400, 413, 415, 422, one message naming the problem, nothing stored) or accepts it:
202 with its document, `received`, while its rows land in the lake in the background; `GET /api/files/{id}` follows
it to `in_lake` and `loaded`. The same content again answers 200 with the first file's document.

Every route but the health check asks for INTAKE_USER and INTAKE_PASSWORD (HTTP Basic; 401 otherwise). The API is
described at `/api/openapi.json`, browsable at `/api/docs` on Swagger UI served from here (offline), and the upload
page at `/` sends files with a picker or by drag and drop, with a progress bar.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pymongo.errors
from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pymongo import DESCENDING, MongoClient
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from market_weather.contract import FILES
from market_weather.dashboard import assets
from market_weather.intake import accept
from market_weather.intake.formats import Refused
from market_weather.settings import IntakeSettings
from market_weather.text import printable
from market_weather.times import utc_now

HERE = Path(__file__).resolve().parent
OPENAPI_URL = "/api/openapi.json"
# A multipart body holds the file and a few short fields: this much beyond FILE_MAX_BYTES is allowed for them.
FORM_OVERHEAD_BYTES = 64 * 1024
FIELD_MAX_BYTES = 1024
FIELDS = ("asset", "location")
STATUSES = ("received", "in_lake", "loaded", "rejected", "failed")
log = logging.getLogger("market_weather.intake")


class Answer(Exception):
    """An answer other than the file's document: its status and one message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def public(document: dict) -> dict:
    """A `files` document as the API shows it: `id` for `_id`, times in ISO 8601."""
    shown = {"id": document["_id"], **{k: v for k, v in document.items() if k != "_id"}}
    return jsonable_encoder(shown)


class Upload:
    """One multipart body, parsed as it streams: the `file` part into a Receiver, the short fields kept."""

    def __init__(self, content_type: str, settings: IntakeSettings) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise Answer(400, "send the file as multipart/form-data, in the form's `file` field")
        self.settings = settings
        self.fields: dict[str, str] = {}
        self.name: str | None = None
        self.receiver: accept.Receiver | None = None
        self._part: str | None = None
        self._field = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    def _begin(self) -> None:
        self._headers, self._part = {}, None
        self._field.clear()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if self.receiver is not None:
                raise Answer(400, "send one file per upload")
            filename = options.get(b"filename")
            self.name = filename.decode("utf-8", "replace") if filename else ""
            self.receiver = accept.Receiver(self.settings.FILES_DIR, self.settings.FILE_MAX_BYTES)
        self._part = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            assert self.receiver is not None
            self.receiver.write(memoryview(data)[start:end])
        elif self._part in FIELDS:
            self._field.extend(data[start:end])
            if len(self._field) > FIELD_MAX_BYTES:
                raise Answer(400, f"the form's {self._part} field is longer than {FIELD_MAX_BYTES} bytes")

    def _end(self) -> None:
        if self._part in FIELDS:
            value = bytes(self._field).decode("utf-8", "replace").strip()
            if value:
                self.fields[self._part] = value

    def abort(self) -> None:
        if self.receiver is not None:
            self.receiver.abort()


def create_app(settings: IntakeSettings) -> FastAPI:
    if not assets.installed():
        raise assets.AssetsMissing(
            "Swagger UI is not installed: run `make setup` (or python -m market_weather.dashboard.assets)"
        )
    client: MongoClient = MongoClient(settings.MONGO_URI, document_class=dict, tz_aware=True)
    db = client[settings.MONGO_DB]
    landing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="land")  # one file's rows at a time

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(_start, db)
        except pymongo.errors.PyMongoError as exc:
            log.warning("the lake did not answer at start (%s); uploads say so until it does", exc)
        try:
            yield
        finally:
            landing.shutdown(wait=True, cancel_futures=False)
            client.close()

    app = FastAPI(
        title="Market and weather platform: file intake",
        summary="Price and weather history files taken in: CoinGecko's and Open-Meteo's CSV exports and JSON Lines "
        "of the APIs' records, checked, landed in the lake and loaded into the warehouse with a status per file.",
        version="1",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    basic = HTTPBasic(realm="file intake", description="INTAKE_USER and INTAKE_PASSWORD")

    def login(credentials: HTTPBasicCredentials = Depends(basic)) -> str:  # noqa: B008 (FastAPI's way here)
        user_ok = secrets.compare_digest(credentials.username.encode(), settings.INTAKE_USER.encode())
        password = settings.INTAKE_PASSWORD.get_secret_value().encode()
        password_ok = secrets.compare_digest(credentials.password.encode(), password)
        if not (user_ok and password_ok):
            challenge = {"WWW-Authenticate": 'Basic realm="file intake"'}
            raise HTTPException(401, "wrong user or password", headers=challenge)
        return credentials.username

    logged_in = [Depends(login)]

    async def answered(request: Request, exc: Answer) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = "; ".join(f"{err['loc'][-1]}: {err['msg']}" for err in exc.errors())
        return JSONResponse({"message": message}, status_code=422)

    async def lake_down(request: Request, exc: pymongo.errors.PyMongoError) -> JSONResponse:
        log.warning("%s %s: the lake did not answer: %s", request.method, request.url.path, exc)
        return JSONResponse({"message": "the lake does not answer; try again shortly"}, status_code=503)

    app.add_exception_handler(Answer, answered)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, refused)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
    app.add_exception_handler(pymongo.errors.PyMongoError, lake_down)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for vendored in assets.SWAGGER_UI_FILES:
        app.add_api_route(
            f"/vendor/swagger-ui/{vendored}", _serve(assets.SWAGGER_UI / vendored), include_in_schema=False
        )
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/", include_in_schema=False, dependencies=logged_in)
    def page(request: Request) -> HTMLResponse:
        context = {
            "limit": settings.FILE_MAX_BYTES,
            "assets": settings.COINCAP_ASSETS,
            "locations": settings.OPENWEATHER_LOCATIONS,
        }
        return templates.TemplateResponse(request, "upload.html", context)

    @app.get("/api/docs", include_in_schema=False, dependencies=logged_in)
    def api_docs() -> HTMLResponse:
        return assets.docs_page(OPENAPI_URL, "API · file intake")

    @app.get("/api/health", tags=["service"])
    def health() -> dict:
        """Whether the lake answers (no login needed)."""
        client.admin.command("ping")
        return {"status": "ok"}

    @app.post(
        "/api/files",
        tags=["files"],
        dependencies=logged_in,
        status_code=202,
        responses={
            200: {"description": "the same content was taken before: that file's document, `duplicate` true"},
            202: {"description": "accepted: the file's document, `received`; its rows land in the background"},
            400: {"description": "no file, an empty one, one not in UTF-8 (the encoding found is named)"},
            401: {"description": "a wrong or missing login"},
            413: {"description": "larger than FILE_MAX_BYTES, or a gzip whose content is"},
            415: {"description": "not one of the three formats, binary, or content that does not match its name"},
            422: {"description": "a header or location block lacking what it needs, or an asset or location unknown"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "asset": {"type": "string", "description": "the CoinCap asset of a CoinGecko export"},
                                "location": {"type": "string", "description": "the location of an Open-Meteo export"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def upload(request: Request) -> JSONResponse:
        """Take a file in: CoinGecko's CSV export (one coin: `btc-usd-max.csv`, or name it in `asset`), Open-Meteo's
        CSV export (its location matched by its coordinates, or named in `location`), or JSON Lines of the APIs'
        records; gzipped or not. Answers once the file is stored and read whole."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.FILE_MAX_BYTES + FORM_OVERHEAD_BYTES:
            raise Answer(413, f"the file is larger than FILE_MAX_BYTES ({settings.FILE_MAX_BYTES:,} bytes)")
        form = Upload(request.headers.get("content-type", ""), settings)
        try:
            async for chunk in request.stream():
                form.parser.write(chunk)
            form.parser.finalize()
            if form.receiver is None:
                raise Answer(400, "no file: send it in the form's `file` field")
            stored = form.receiver.finish()
        finally:
            form.abort()
        context = await run_in_threadpool(_context, form)
        try:
            record = await run_in_threadpool(accept.admit, db, stored, context, settings.FILE_MAX_BYTES)
        except accept.Duplicate as duplicate:
            first = public(duplicate.first) | {"duplicate": True}
            first["message"] = f"the same content was taken before, as {duplicate.first['_id']}"
            return JSONResponse(first, status_code=200)
        landing.submit(_land, db, stored, context, settings.FILE_MAX_BYTES, record)
        log.info("file %s (%s, %d bytes) received", record["_id"], printable(context.name, 80), stored.size)
        return JSONResponse(public(record), status_code=202, headers={"Location": f"/api/files/{record['_id']}"})

    def _context(form: Upload) -> accept.Context:
        return accept.Context(
            name=form.name or "",
            via="upload",
            assets=tuple(settings.COINCAP_ASSETS),
            locations=tuple(settings.OPENWEATHER_LOCATIONS),
            symbols=accept.known_symbols(db, settings.COINCAP_ASSETS),
            asset=form.fields.get("asset"),
            location=form.fields.get("location"),
        )

    @app.get("/api/files", tags=["files"], dependencies=logged_in)
    def files(
        status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict]:
        """The files taken in, newest first: each one's status, counts and first errors."""
        query = {"status": status} if status else {}
        return [public(d) for d in db[FILES].find(query).sort("received_at", DESCENDING).limit(limit)]

    @app.get("/api/files/{file_id}", tags=["files"], dependencies=logged_in)
    def file(file_id: str) -> dict:
        """One file: `received` (read whole, its rows landing), `in_lake`, `loaded` (the warehouse holds its rows), or
        `rejected` / `failed` with why; its counts (rows, valid, dead-lettered, duplicates, in the lake, loaded) and
        first errors with their lines."""
        found = db[FILES].find_one({"_id": file_id})
        if found is None:
            raise Answer(404, f"no file {printable(file_id, 80)!r}")
        return public(found)

    return app


def _serve(path: Path) -> Any:
    def serve() -> FileResponse:
        return FileResponse(path)

    return serve


def _land(db: Any, stored: accept.Stored, context: accept.Context, limit: int, record: dict) -> None:
    try:
        done = accept.land(db, stored, context, limit, record)
    except Exception:
        log.exception("file %s: landing its rows failed", record["_id"])
        return
    counts = done["counts"]
    log.info(
        "file %s in the lake: %d rows, %d landed, %d dead-lettered",
        done["_id"],
        counts["rows"],
        counts["in_lake"],
        counts["dead_lettered"],
    )


def _start(db: Any) -> None:
    """The lake's indexes; and an upload whose rows were landing when the service last stopped, as `failed` (the same
    content may be sent again)."""
    accept.ensure_file_indexes(db)
    stopped = {"status": "received", "via": "upload"}
    reason = "the intake service stopped while the rows were landing: send the file again"
    db[FILES].update_many(stopped, {"$set": {"status": "failed", "finished_at": utc_now(), "errors": [reason]}})
