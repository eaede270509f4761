"""A small HTTP server on 127.0.0.1 that speaks the shape of Zendesk's incremental export API.

`/api/v2/incremental/{tickets,users}/cursor.json`: `start_time` gives the first page, `cursor`
the next ones; each page has `after_cursor` and `end_of_stream`. Basic authentication
`{email}/token:{token}` is checked on every request. Tests script faults (a 429 with
`Retry-After`, a 500, a page that hangs) and read back every request it received.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EMAIL = "ops@acme.test"
TOKEN = "zd-secret-token-7f3a9c"
STREAMS = {"tickets": "tickets", "users": "users"}


@dataclass
class Fault:
    """What the next matching request gets instead of its page."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"error": "scripted"}'


@dataclass
class ZendeskDouble:
    """The account's data and the script of the test.

    Attributes:
        pages: stream ("tickets", "users") -> its pages of records, oldest first. Page i is
            answered to `start_time` (i = 0) or to `cursor=<stream>-c<i>`; its `after_cursor`
            is `<stream>-c<i+1>`, and the last page says `end_of_stream`. A cursor past the
            last page gets an empty page that says `end_of_stream` and the same cursor.
        faults: answered, in order, to the next requests instead of their pages.
        hang_at: a cursor whose request blocks until `release` is set (a run killed there).
        requests: (stream, query) of each request received, faults included.
    """

    pages: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    hang_at: str | None = None
    release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def answer(
        self, path: str, query: dict[str, str], auth: str | None
    ) -> tuple[int, dict[str, str], str]:
        stream = next((s for s in STREAMS if f"/incremental/{s}/cursor.json" in path), None)
        self.requests.append((stream or path, query))
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if auth != expected:
            return 401, {}, '{"error": "Couldn\'t authenticate you"}'
        if stream is None:
            return 404, {}, '{"error": "InvalidEndpoint"}'
        if self.faults:
            fault = self.faults.pop(0)
            return fault.status, fault.headers, fault.body
        cursor = query.get("cursor")
        if cursor is not None and cursor == self.hang_at:
            self.hanging.set()
            self.release.wait(timeout=60)
        pages = self.pages.get(stream, [])
        index = int(cursor.rsplit("-c", 1)[1]) if cursor else 0
        if index >= len(pages):
            body = {
                STREAMS[stream]: [],
                "after_cursor": cursor or f"{stream}-c0",
                "end_of_stream": True,
            }
        else:
            body = {
                STREAMS[stream]: pages[index],
                "after_cursor": f"{stream}-c{index + 1}",
                "before_cursor": f"{stream}-c{index}",
                "after_url": f"{self.url}{path}?cursor={stream}-c{index + 1}",
                "end_of_stream": index == len(pages) - 1,
            }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


@contextmanager
def zendesk_server(double: ZendeskDouble) -> Iterator[ZendeskDouble]:
    """Serve `double` on a free port of 127.0.0.1 for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, headers, body = double.answer(
                parts.path, query, self.headers.get("Authorization")
            )
            data = body.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        double.release.set()
        server.shutdown()
        server.server_close()


def ticket(ticket_id: int, updated: str, **fields: Any) -> dict[str, Any]:
    """A ticket as the export API sends it (the fields persona-mining reads, and some it drops)."""
    record: dict[str, Any] = {
        "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "created_at": "2026-01-02T09:00:00Z",
        "updated_at": updated,
        "subject": f"Order {ticket_id} has not arrived",
        "raw_subject": f"Order {ticket_id} has not arrived",
        "description": "My parcel is late, where is it?",
        "status": "open",
        "requester_id": 500 + ticket_id % 3,
        "via": {"channel": "email", "source": {"from": {}, "to": {}}},
        "tags": ["shipping"],
        "collaborator_ids": [],
    }
    record.update(fields)
    return record


def user(user_id: int, updated: str, plan: str) -> dict[str, Any]:
    """A user as the export API sends it, with a name, e-mail and phone that must not be kept."""
    return {
        "id": user_id,
        "url": f"https://acme.zendesk.com/api/v2/users/{user_id}.json",
        "name": f"Person {user_id}",
        "email": f"person{user_id}@example.com",
        "phone": "+1 555 0100",
        "role": "end-user",
        "locale": "en-US",
        "created_at": "2025-06-01T00:00:00Z",
        "updated_at": updated,
        "user_fields": {"plan": plan, "segment": "smb"},
    }
