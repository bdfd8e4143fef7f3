"""The HTTP behaviour both live clients share: one session, timeouts, retries, clear errors, no key leaks.

Retries (tenacity) cover 429, 5xx, connection errors, timeouts and bodies cut short, with exponential
backoff and jitter, honouring `Retry-After` (seconds or an HTTP date), bounded in total time. 400,
401, 403, 404 and a redirect loop fail at once, as one line naming the endpoint. The API key never
appears in a log record, an exception, a stored URL or a returned body (an API may echo it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

import requests
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_random_exponential

log = logging.getLogger(__name__)

FAIL_FAST_HINTS = {
    400: "the request was refused as malformed",
    401: "the API key is invalid or not yet active",
    403: "the plan does not allow this call, or its credits are exhausted",
    404: "not found: check the id or the base URL",
}


class ApiError(RuntimeError):
    """A call that failed for good; the message names the API, endpoint and status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ResponseNotJson(ApiError):
    """The API answered 2xx with a body that cannot be read as JSON; the body is kept for the dead letters."""

    def __init__(self, message: str, body: str, status: int, reason: str = "response is not JSON"):
        super().__init__(message, status)
        self.body, self.reason = body, reason


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def redact_json(body: Any, secret: str, mask: str = "***") -> Any:
    """A decoded JSON body with `secret` masked in every string and field name; changed in place.

    Walks with a stack of its own, so no nesting makes it recurse.
    """
    if not secret:
        return body
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any(isinstance(k, str) and secret in k for k in node):
                renamed = {(k.replace(secret, mask) if isinstance(k, str) else k): v for k, v in node.items()}
                node.clear()
                node.update(renamed)
            entries: Any = node.items()
        elif isinstance(node, list):
            entries = enumerate(node)
        else:
            continue
        for key, value in list(entries):
            if isinstance(value, str):
                if secret in value:
                    node[key] = value.replace(secret, mask)
            elif isinstance(value, dict | list):
                stack.append(value)
    if isinstance(body, str) and secret in body:
        return body.replace(secret, mask)
    return body


class _RedactSecret(logging.Filter):
    """Replace a secret wherever it would reach a log record (urllib3 logs request lines)."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "***"), None
        return True


class JsonApi:
    """A JSON-over-HTTP API: base URL, timeouts, retry policy and counters for one session.

    Use it in a `with` block: leaving it closes the session.
    """

    name = "api"

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self._key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts, self.max_retry_seconds, self._sleep = max_attempts, max_retry_seconds, sleep
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.calls = 0
        self.bytes_received = 0
        self._redactor = _RedactSecret(self._key)
        for name in ("urllib3.connectionpool", "urllib3.util.retry", __name__):
            logging.getLogger(name).addFilter(self._redactor)

    def close(self) -> None:
        self.session.close()
        for name in ("urllib3.connectionpool", "urllib3.util.retry", __name__):
            logging.getLogger(name).removeFilter(self._redactor)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _decode(self, endpoint: str, response: requests.Response) -> Any:
        """The JSON body without the key. Bytes, not text: UTF-8, -16 or -32, with a byte-order mark or without."""
        status = response.status_code
        try:
            body = json.loads(response.content)
        except RecursionError:
            reason = "response JSON is nested too deeply to read"
        except ValueError:
            reason = "response is not JSON"
        else:
            return redact_json(body, self._key)
        raise ResponseNotJson(
            f"{self.name} {endpoint}: HTTP {status}: {reason}", self._redact(response.text), status, reason
        ) from None

    def _auth(self, params: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        """Headers and query parameters that carry the key; each API says how."""
        raise NotImplementedError

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_seconds)
        return wait_random_exponential(multiplier=0.5, max=30)(state)

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """GET base_url + endpoint and decode the JSON body, retrying what is worth retrying."""
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.max_retry_seconds),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "%s %s: %s; retry %d of %d",
                self.name,
                endpoint,
                s.outcome.exception() if s.outcome else None,
                s.attempt_number,
                self.max_attempts - 1,
            ),
        )
        try:
            return retrying(self._get_once, endpoint, params or {})
        except _Retryable as exc:
            raise ApiError(
                f"{self.name} {endpoint}: gave up after {self.max_attempts} attempts or "
                f"{self.max_retry_seconds:.0f} s: {exc}",
                exc.status,
            ) from None

    def _get_once(self, endpoint: str, params: dict[str, Any]) -> Any:
        headers, params = self._auth(dict(params))
        self.calls += 1
        try:
            response = self.session.get(self.base_url + endpoint, params=params, headers=headers, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # requests puts the full URL, query string included, in its messages: name the type only.
            raise _Retryable(f"{type(exc).__name__} reaching {self.base_url}{endpoint}") from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise _Retryable(f"{type(exc).__name__}: the body from {self.base_url}{endpoint} was cut short") from None
        except requests.TooManyRedirects:
            raise ApiError(
                f"{self.name} {endpoint}: more than {self.session.max_redirects} redirects: check the base URL"
            ) from None
        except requests.RequestException as exc:
            detail = " ".join(self._redact(str(exc)).split())[:200]
            raise ApiError(f"{self.name} {endpoint}: {type(exc).__name__}: {detail}") from None
        self.bytes_received += len(response.content)
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")), status)
        if status >= 400:
            hint = FAIL_FAST_HINTS.get(status, "the request was refused")
            detail = " ".join(self._redact(response.text).split())[:200]
            raise ApiError(
                f"{self.name} {endpoint}: HTTP {status}: {hint}" + (f" ({detail})" if detail else ""), status
            )
        return self._decode(endpoint, response)
