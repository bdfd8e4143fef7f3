"""The intake service as users reach it: `python -m market_weather.intake` on the test stack's lake, uploads over
HTTP with its login. Every refusal answers its status and one message and stores nothing (no `files` document, no
file in the store); an accepted file answers 202 and reaches `in_lake`; the same content again names the first."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from pymongo import MongoClient

from market_weather.settings import PROJECT_ROOT
from market_weather.stack.ports import free_port
from tests.integration.conftest import answering

FIXTURES = Path(__file__).parent.parent / "fixtures" / "files"
COINGECKO = (FIXTURES / "btc-usd-max.csv").read_bytes()
OPEN_METEO = (FIXTURES / "open-meteo-paris-hourly.csv").read_bytes()
LIMIT = 300_000
LOGIN = ("uploader", "intake-test-pw")


class Intake:
    def __init__(self, url: str, files_dir: Path, lake) -> None:
        self.url, self.files_dir, self.lake = url, files_dir, lake

    def post(self, name: str | None, content: bytes | None, auth=LOGIN, **fields) -> requests.Response:
        files = {"file": (name, content)} if content is not None else None
        return requests.post(f"{self.url}/api/files", files=files, data=fields or None, auth=auth, timeout=60)

    def stored(self) -> list[Path]:
        """Every file in the store (incoming partial copies included)."""
        return sorted(p for p in self.files_dir.rglob("*") if p.is_file())

    def follow(self, file_id: str, until: tuple[str, ...], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            doc = requests.get(f"{self.url}/api/files/{file_id}", auth=LOGIN, timeout=10).json()
            if doc["status"] in until or time.monotonic() > deadline:
                return doc
            time.sleep(0.3)


def start_intake(settings, files_dir: Path, inbox: Path, limit: int = LIMIT) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        **{k: v for k, v in settings.as_environment().items() if not k.endswith("_PASSWORD")},
        "INTAKE_PORT": str(port),
        "INTAKE_USER": LOGIN[0],
        "INTAKE_PASSWORD": LOGIN[1],
        "FILE_MAX_BYTES": str(limit),
        "FILES_DIR": str(files_dir),
        "INBOX_DIR": str(inbox),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "market_weather.intake"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, answering(process, f"http://127.0.0.1:{port}", "/api/health", "the intake")


@pytest.fixture
def intake(settings, tmp_path):
    process, url = start_intake(settings, tmp_path / "files", tmp_path / "inbox")
    with MongoClient(settings.MONGO_URI, document_class=dict, tz_aware=True) as client:
        yield Intake(url, tmp_path / "files", client[settings.MONGO_DB])
    process.terminate()
    output = process.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
    assert LOGIN[1] not in output, "the password never reaches the log"


def refused(intake: Intake, response: requests.Response, status: int, *words: str) -> str:
    """The answer is `status` with one message holding `words`, and nothing was stored."""
    assert response.status_code == status, response.text
    message = response.json()["message"]
    assert "\n" not in message and all(word in message for word in words), message
    assert intake.lake.files.count_documents({}) == 0, "no file recorded"
    assert intake.stored() == [], "nothing kept in the store"
    return message


def test_every_route_but_the_health_check_asks_for_the_login(intake):
    for auth in (None, ("uploader", "wrong"), ("someone", LOGIN[1])):
        answer = intake.post("btc-usd-max.csv", COINGECKO, auth=auth)
        refused(intake, answer, 401, *(("user or password",) if auth else ()))
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
        for path in ("/", "/api/files", "/api/docs", "/api/files/x"):
            assert requests.get(f"{intake.url}{path}", auth=auth, timeout=10).status_code == 401, path
    assert requests.get(f"{intake.url}/api/health", timeout=10).json() == {"status": "ok"}


def test_a_file_is_accepted_then_lands_and_the_same_content_again_names_the_first(intake):
    answer = intake.post("btc-usd-max.csv", COINGECKO)
    assert answer.status_code == 202, answer.text
    first = answer.json()
    assert (first["status"], first["format"], first["name"], first["size"]) == (
        "received",
        "coingecko_csv",
        "btc-usd-max.csv",
        len(COINGECKO),
    )
    assert answer.headers["Location"] == f"/api/files/{first['id']}"
    landed = intake.follow(first["id"], ("in_lake", "failed"))
    assert landed["status"] == "in_lake" and landed["counts"]["in_lake"] == 6
    assert intake.lake.coingecko_history.count_documents({"run_id": first["id"]}) == 6

    again = intake.post("renamed.csv", COINGECKO, asset="bitcoin")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == first["id"] and first["id"] in again.json()["message"]
    assert intake.lake.files.count_documents({}) == 1
    listed = requests.get(f"{intake.url}/api/files", auth=LOGIN, timeout=10).json()
    assert [f["id"] for f in listed] == [first["id"]]
    missing = requests.get(f"{intake.url}/api/files/file-none", auth=LOGIN, timeout=10)
    assert missing.status_code == 404 and "file-none" in missing.json()["message"]


def test_two_uploads_of_the_same_content_at_once_record_one_file(intake):
    answers: list[requests.Response] = []
    content = OPEN_METEO * 1  # both the same bytes
    threads = [threading.Thread(target=lambda: answers.append(intake.post("paris.csv", content))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert intake.lake.files.count_documents({}) == 1


@pytest.mark.parametrize(
    "name, content, status, words",
    [
        ("prices.csv", b"", 400, ("empty",)),
        ("prices.txt", COINGECKO, 415, ("txt",)),
        ("prices.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415, ("binary",)),
        ("prices.jsonl", COINGECKO, 415, ("jsonl",)),
        (
            "prices.csv",
            "snapped_at,price,market_cap,total_volume\n2013-04-28 00:00:00 UTC,134,1,0\n€".encode("cp1252"),
            400,
            ("UTF-8",),
        ),
        ("btc-usd-max.csv", b"snapped_at,market_cap,total_volume\n2013-04-28 00:00:00 UTC,1,0\n", 422, ("price",)),
        ("prices.csv.gz", gzip.compress(b"0" * (LIMIT * 20)), 413, ("FILE_MAX_BYTES",)),
        (
            "paris.csv",
            OPEN_METEO.replace(b"utc_offset_seconds", b"offset"),
            422,
            ("location block", "utc_offset_seconds"),
        ),
    ],
    ids=[
        "empty",
        "extension",
        "binary",
        "name-content-mismatch",
        "not-utf8",
        "missing-columns",
        "gzip-bomb",
        "metadata",
    ],
)
def test_a_file_that_cannot_be_taken_is_refused_with_one_message_and_nothing_stored(
    intake, name, content, status, words
):
    refused(intake, intake.post(name, content), status, *words)


def test_no_file_in_the_form_is_a_400(intake):
    refused(intake, intake.post(None, None, asset="bitcoin"), 400, "file")


def test_a_file_over_the_limit_is_refused_while_it_streams_and_by_its_declared_length(intake):
    big = b"snapped_at,price,market_cap,total_volume\n" + b"2013-04-28 00:00:00 UTC,134.21,1,0\n" * 20_000
    assert len(big) > LIMIT
    refused(intake, intake.post("btc-usd-max.csv", big), 413, "FILE_MAX_BYTES")

    def chunked():  # no Content-Length: the limit is met while the body streams
        boundary = b"b0undary"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="btc-usd-max.csv"\r\n\r\n'
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]
        yield b"\r\n--" + boundary + b"--\r\n"

    answer = requests.post(
        f"{intake.url}/api/files",
        data=chunked(),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
        auth=LOGIN,
        timeout=60,
    )
    refused(intake, answer, 413, "FILE_MAX_BYTES")


def test_a_file_name_is_never_a_path(intake, tmp_path):
    answer = intake.post("../../../../tmp/escape-btc-usd-max.csv", COINGECKO, asset="bitcoin")
    assert answer.status_code == 202, answer.text
    stored = intake.stored()
    assert [p.name for p in stored] == [answer.json()["sha256"]], "kept under its content's hash alone"
    assert not Path("/tmp/escape-btc-usd-max.csv").exists()
    assert intake.follow(answer.json()["id"], ("in_lake", "failed"))["status"] == "in_lake"


def test_the_api_is_described_and_its_page_works_offline(intake):
    spec = requests.get(f"{intake.url}/api/openapi.json", auth=LOGIN, timeout=10).json()
    post = spec["paths"]["/api/files"]["post"]
    assert {"200", "202", "400", "401", "413", "415", "422"} <= set(post["responses"])
    assert "file" in post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"/api/files", "/api/files/{file_id}"} <= set(spec["paths"])
    page = requests.get(f"{intake.url}/api/docs", auth=LOGIN, timeout=10).text
    for script in ("/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"):
        assert script in page and requests.get(f"{intake.url}{script}", timeout=10).ok
    assert "://" not in page, "nothing loaded from elsewhere"
