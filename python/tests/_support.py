"""What the tests against a real Allot share: the Allot under test, one Python worker serving it, and what its handler saw.

``ALLOT_URL`` and ``ALLOT_ADMIN_KEY`` name the Allot (test/python/python-sdk.test.ts starts one and
sets them). The worker, its registration and the templates are made once per run, under names
with a fresh suffix, so the suite can run again against the same Allot.
"""

from __future__ import annotations

import os
import threading
import time
import unittest
import uuid
from typing import Any, Dict, Optional

from allot import Client, Job, Worker, serve_http
from allot._http import Endpoint, Response, request_json

# The names this run registers end with it (the node test passes one, to find this run's requests).
SUFFIX = os.environ.get("ALLOT_TEST_SUFFIX") or uuid.uuid4().hex[:8]
WORKER_TOKEN = f"py-worker-token-{SUFFIX}"
MODEL = "gpt-3.5"
MAX_TOKENS = 500
DEADLINE_TIMEOUT_MS = 1500

# What the handler saw, by request id; the tests read it. Guarded by LOCK, waited on through CHANGED.
SEEN: Dict[str, Dict[str, Any]] = {}
LOCK = threading.Lock()
CHANGED = threading.Condition(LOCK)
# A test sets GO[request_id] to let a "progress" job start reporting (once it follows the stream).
GO: Dict[str, threading.Event] = {}


def record(job: Job, **fields: Any) -> None:
    with CHANGED:
        SEEN.setdefault(job.request_id, {}).update(fields)
        CHANGED.notify_all()


def seen(request_id: str, key: str, timeout: float = 10.0) -> Any:
    """What the handler recorded under ``key`` for a request, waiting for it up to ``timeout``."""
    end = time.monotonic() + timeout
    with CHANGED:
        while key not in SEEN.get(request_id, {}):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the handler recorded no {key!r} for {request_id} within {timeout} s (saw {SEEN.get(request_id)})")
            CHANGED.wait(left)
        return SEEN[request_id][key]


def handler(job: Job) -> Any:
    """One handler for every test template; ``input.mode`` says what to do."""
    mode = job.input.get("mode", "echo")
    record(job, started=True, wall=time.time(), timeout_ms=job.timeout_ms, deadline_ms=job.deadline_ms,
           time_left=job.time_left(), attempt=job.attempt, parameters=job.parameters)
    if mode == "echo":
        job.add_usage(input_tokens=job.input.get("in", 100), output_tokens=job.input.get("out", 20))
        return {"echo": job.input, "template": job.template, "attempt": job.attempt}
    if mode == "progress":
        go = GO.setdefault(job.request_id, threading.Event())
        if not go.wait(10):
            raise RuntimeError("the test never followed the stream")
        for percent, message in ((25, "quarter"), (50, "half"), (75, "three quarters")):
            job.progress(percent, message)
            time.sleep(0.3)
        job.add_usage(input_tokens=10, output_tokens=5)
        return {"done": True}
    if mode in ("slow", "deadline"):
        stopped = job.stopped.wait(15)
        record(job, stopped=stopped, stop_reason=job.stop_reason, stopped_after_s=time.time() - SEEN[job.request_id]["wall"])
        job.check()
        return {"finished": True}
    raise ValueError(f"unknown mode {mode!r}")


class Allot:
    """The Allot under test and what was registered in it for this run."""

    def __init__(self) -> None:
        url = os.environ.get("ALLOT_URL")
        admin_key = os.environ.get("ALLOT_ADMIN_KEY")
        if not url or not admin_key:
            raise unittest.SkipTest("ALLOT_URL and ALLOT_ADMIN_KEY name no Allot to test against (test/python/python-sdk.test.ts sets them)")
        self.url = url
        self._endpoint = Endpoint(url)
        self._admin = {"authorization": f"Bearer {admin_key}"}
        self.server = serve_http(Worker(f"py-{SUFFIX}", handler), token=WORKER_TOKEN)
        self.worker = f"py-{SUFFIX}"
        self.admin("POST", "/admin/workers", {"name": self.worker, "transport": "http", "url": self.server.url + "/", "token": WORKER_TOKEN, "max_concurrency": 8})
        # The same worker registered with a token it does not accept: its jobs must be refused.
        self.bad_worker = f"py-bad-{SUFFIX}"
        self.admin("POST", "/admin/workers", {"name": self.bad_worker, "transport": "http", "url": self.server.url + "/", "token": "not-the-worker-token", "max_concurrency": 2})
        self.echo = f"py-echo-{SUFFIX}"
        self.deadline = f"py-deadline-{SUFFIX}"
        self.refused = f"py-refused-{SUFFIX}"
        common = {"model": MODEL, "max_tokens": MAX_TOKENS, "max_attempts": 1}
        self.admin("POST", "/admin/templates", {"name": self.echo, "worker": self.worker, "timeout_ms": 20000, **common})
        self.admin("POST", "/admin/templates", {"name": self.deadline, "worker": self.worker, "timeout_ms": DEADLINE_TIMEOUT_MS, **common})
        self.admin("POST", "/admin/templates", {"name": self.refused, "worker": self.bad_worker, "timeout_ms": 20000, **common})

    def admin(self, method: str, path: str, body: Optional[Any] = None) -> Response:
        return request_json(self._endpoint, method, path, self._admin, body, 30.0)

    def new_client(self, **extra: Any) -> Client:
        """A fresh Allot client (its own budget and history) and the SDK client for it."""
        made = self.admin("POST", "/admin/clients", {"name": f"py-{SUFFIX}-{uuid.uuid4().hex[:6]}", "tier": "premium", **extra})
        return Client(self.url, made["api_key"], client_id=made["client"]["id"], timeout=30.0)

    def close(self) -> None:
        self.server.close()


_allot: Optional[Allot] = None
_allot_lock = threading.Lock()


def allot() -> Allot:
    """The shared fixture, made on first use."""
    global _allot
    with _allot_lock:
        if _allot is None:
            _allot = Allot()
        return _allot
