"""Progress reports to Allot (``POST /internal/progress/{request_id}`` with the job's progress token).

Rate-limited to one post per 100 ms: intermediate values are dropped, never the
newest. Posts go from a thread of their own, so a handler never waits for one;
a failed post is ignored (progress is best effort and never fails the job).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlsplit

MIN_INTERVAL_S = 0.1
POST_TIMEOUT_S = 5.0

Update = Dict[str, Any]


def post_progress(url: str, token: str, update: Update, timeout: float = POST_TIMEOUT_S) -> int:
    """POST one update; the HTTP status Allot answered."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        body = json.dumps(update).encode("utf-8")
        conn.request("POST", path, body=body, headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class ProgressReporter:
    """Coalesces a job's progress reports and sends them one at a time, in order, from a daemon thread."""

    def __init__(self, send: Callable[[Update], Any]) -> None:
        self._send = send
        self._cond = threading.Condition()
        self._pending: Optional[Update] = None
        self._closed = False
        self._last = float("-inf")
        self._thread: Optional[threading.Thread] = None

    def report(self, percent: float, message: Optional[str] = None) -> None:
        update: Update = {"progress": percent} if message is None else {"progress": percent, "message": str(message)[:1000]}
        with self._cond:
            if self._closed:
                return
            self._pending = update
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="allot-progress", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float = 1.0) -> None:
        """Send what is pending, accept no more, and wait (at most ``timeout``) for the last post."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                wait = self._last + MIN_INTERVAL_S - time.monotonic()
                if wait > 0 and not self._closed:
                    self._cond.wait(wait)
                    continue
                update, self._pending = self._pending, None
                self._last = time.monotonic()
            try:
                self._send(update)
            except Exception:  # noqa: BLE001 - best effort: a lost progress post must never fail the job
                pass


def http_reporter(target: Dict[str, str]) -> ProgressReporter:
    """A reporter posting to the job's ``progress.url`` with its ``progress.token``."""
    return ProgressReporter(lambda update: post_progress(target["url"], target["token"], update))
