"""Pull tickets and users from Zendesk's cursor-based incremental export API.

`/api/v2/incremental/{tickets,users}/cursor.json`: the first request gives `start_time`, each
next one the `after_cursor` of the page before, until `end_of_stream`. The `after_cursor` of
the last page is where the next run starts. Users become customers (their `user_fields` as
attributes; names, e-mails and phone numbers are not kept, as with the export preset).

A small client of our own (httpx + tenacity) rather than a framework: it honours `429` with
its `Retry-After`, retries server errors, timeouts and dropped connections with exponential
backoff, and fails at once on refused credentials, naming the source. The API token travels
only in the Authorization header: it is never logged and never part of an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from persona_mining.config import SourceConfig
from persona_mining.errors import SourceAuthError, SourceError
from persona_mining.ingest.load import IngestResult
from persona_mining.ingest.pull import (
    PageCounter,
    ProgressFn,
    commit_page,
    redact,
    stored_cursor,
)

#: Stream -> (endpoint, key of the records in a page).
ENDPOINTS = {
    "customers": ("/api/v2/incremental/users/cursor.json", "users"),
    "tickets": ("/api/v2/incremental/tickets/cursor.json", "tickets"),
}
#: Longest wait between two attempts, whatever `Retry-After` asks (seconds).
MAX_WAIT_SECONDS = 300.0
_BACKOFF = wait_exponential(multiplier=1, min=1, max=60)


class _Retryable(Exception):
    """A failure worth another attempt: rate limit, server error, timeout, dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def pull_zendesk(
    con: duckdb.DuckDBPyConnection,
    *,
    source: SourceConfig,
    stream: str,
    token: str,
    max_text_chars: int = 50_000,
    progress: ProgressFn | None = None,
) -> IngestResult:
    """Pull one stream ("tickets" or "customers") of a Zendesk source, page by page.

    Each page is committed with the cursor that follows it (see `pull.commit_page`); the
    first pull starts at the source's `start`, later ones at the stored cursor.

    Args:
        con: warehouse connection.
        source: a `[[sources]]` entry of type "zendesk".
        stream: "tickets" or "customers" (Zendesk users).
        token: the API token (from the environment variable `source.token_env`).
        max_text_chars: tickets longer than this are rejected.
        progress: called after each committed page.

    Raises:
        SourceAuthError: Zendesk refused the credentials (not retried).
        SourceError: the API kept failing after `source.retries` retries, or answered
            something that is not an export page; what was committed stays.
    """
    path, key = ENDPOINTS[stream]
    name = source.label
    counter = PageCounter(name, stream, progress)
    cursor = stored_cursor(con, name, stream)
    params: dict[str, Any] = {"per_page": source.page_size}
    params |= {"cursor": cursor} if cursor else {"start_time": _start_time(source.start)}
    with httpx.Client(
        base_url=source.url.rstrip("/"),
        auth=(f"{source.email}/token", token),
        timeout=source.timeout,
        headers={"Accept": "application/json", "User-Agent": "persona-mining"},
        follow_redirects=False,
    ) as client:
        while True:
            page = _get(client, path, params, source=source, token=token)
            records = page.get(key)
            if not isinstance(records, list):
                raise SourceError(
                    f"zendesk source {name!r}: the answer of {path} has no '{key}' list; is "
                    f"url = {source.url!r} a Zendesk account?"
                )
            after = page.get("after_cursor")
            after = str(after) if after else None
            rows = [(_row_number(record, i), record) for i, record in enumerate(records, 1)]
            result = commit_page(
                con,
                rows,
                source=source,
                stream=stream,
                cursor=after,
                max_text_chars=max_text_chars,
            )
            counter.add(result, len(records))
            if page.get("end_of_stream") or after is None or (after == cursor and not records):
                break
            cursor = after
            params = {"per_page": source.page_size, "cursor": after}
    return counter.finish(con)


def _start_time(start: str) -> int:
    moment = datetime.fromisoformat(start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _row_number(record: Any, position: int) -> int:
    """The record's Zendesk id (what `ingest_rejects.row_number` shows), else its position."""
    if isinstance(record, dict):
        value = record.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            return int(value)
    return position


def _get(
    client: httpx.Client,
    path: str,
    params: Mapping[str, Any],
    *,
    source: SourceConfig,
    token: str,
) -> dict[str, Any]:
    """One page, retried as `source.retries` allows."""
    retrying = Retrying(
        stop=stop_after_attempt(source.retries + 1),
        wait=_wait,
        retry=retry_if_exception_type(_Retryable),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return _request(client, path, params, source=source, token=token)
    except _Retryable as e:
        raise SourceError(
            f"zendesk source {source.label!r}: {e} after {source.retries + 1} attempts; "
            "Zendesk may be down or rate-limiting: the next run resumes after the last "
            "committed page"
        ) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _wait(state: RetryCallState) -> float:
    """`Retry-After` when the API said how long to wait, else exponential backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _Retryable) and error.retry_after is not None:
        return min(error.retry_after, MAX_WAIT_SECONDS)
    return float(_BACKOFF(state))


def _request(
    client: httpx.Client,
    path: str,
    params: Mapping[str, Any],
    *,
    source: SourceConfig,
    token: str,
) -> dict[str, Any]:
    name = source.label
    try:
        response = client.get(path, params=dict(params))
    except httpx.TimeoutException:
        raise _Retryable(f"no answer from {path} within {source.timeout:g} s") from None
    except httpx.TransportError as e:
        raise _Retryable(
            f"cannot reach {source.url} ({redact(type(e).__name__ + ': ' + str(e), [token])})"
        ) from None
    status = response.status_code
    if status in (401, 403):
        raise SourceAuthError(
            f"zendesk source {name!r}: Zendesk refused the credentials (HTTP {status}); check "
            f"email = {source.email!r} and the API token in the environment variable "
            f"{source.token_env} (Admin Center > Apps and integrations > Zendesk API)"
        )
    if status == 429:
        raise _Retryable(
            f"rate limited at {path} (HTTP 429)", _retry_after(response.headers.get("Retry-After"))
        )
    if status >= 500:
        raise _Retryable(f"server error at {path} (HTTP {status})")
    if status != 200:
        raise SourceError(
            f"zendesk source {name!r}: {path} answered HTTP {status}; check url = "
            f"{source.url!r} and start = {source.start!r}"
        )
    try:
        page = response.json()
    except ValueError:
        raise _Retryable(f"{path} answered with something other than JSON") from None
    if not isinstance(page, dict):
        raise SourceError(f"zendesk source {name!r}: {path} answered JSON that is not a page")
    return page


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (Zendesk sends seconds); None when absent or a date."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
