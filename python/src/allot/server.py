"""The direct HTTP transport, as packages/worker/src/http.ts serves it: ``POST <path>`` runs a job (or a batch), ``GET /health`` describes the worker.

With ``token`` set, a job must carry ``Authorization: Bearer <token>`` (the scheme in any case;
compared in constant time, as SHA-256 digests so the lengths do not leak); ``/health`` stays open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import urlsplit

from .job import WorkerError, parse_job
from .progress import http_reporter
from .worker import StandardResponse, Worker, failure, failure_from_error

PROTOCOL = "allot-direct/1"
DEFAULT_MAX_BODY = 10 * 1024 * 1024
# Longer than typical client pools' idle timeout, so the server is not the side that drops idle sockets first.
KEEP_ALIVE_TIMEOUT_S = 65.0

_BEARER = re.compile(r"^bearer[ \t]+(.+)$", re.IGNORECASE)


def bearer_matches(authorization: Optional[str], expected: str) -> bool:
    """Whether an Authorization header carries ``expected`` as its bearer token (constant time)."""
    m = _BEARER.match(authorization or "")
    token = m.group(1).strip() if m else ""
    if not token:
        return False
    return hmac.compare_digest(hashlib.sha256(token.encode("utf-8")).digest(), hashlib.sha256(expected.encode("utf-8")).digest())


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the other end closed the connection (Allot hangs up when a request is cancelled or times out)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # close() shuts the connections down itself; joining their threads could wait for a keep-alive timeout.
    block_on_close = False

    def __init__(self, addr: Tuple[str, int], handler: Any) -> None:
        self.connections: Set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class WorkerServer:
    """A running worker server: its ``url`` and ``port``; ``close()`` stops it, ``wait()`` blocks until then."""

    def __init__(self, server: _Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url
        self.port: int = server.server_address[1]
        self._closed = threading.Event()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        with self._server.conn_lock:
            conns = list(self._server.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)

    def wait(self) -> None:
        """Block until close() (or Ctrl-C, which closes)."""
        try:
            while not self._closed.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.close()

    def __enter__(self) -> "WorkerServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve_http(worker: Worker, *, host: str = "127.0.0.1", port: int = 0, path: str = "/", token: Optional[str] = None,
               max_body_bytes: int = DEFAULT_MAX_BODY) -> WorkerServer:
    """Serve ``worker`` over Allot's direct HTTP protocol on a background thread; answers the running server.

    :param port: 0 picks a free port (see ``.port`` / ``.url``).
    :param path: where jobs are POSTed.
    :param token: when set, jobs must carry ``Authorization: Bearer <token>`` (register the worker in Allot with the same ``token``).
    """
    health = json.dumps({
        "status": "healthy",
        "service": worker.name,
        "version": worker.version,
        "capabilities": {"protocol": PROTOCOL, "batch": True, "batch_handler": False},
    }).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "allot-python-worker"
        timeout = KEEP_ALIVE_TIMEOUT_S

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
            pass

        def _send(self, status: int, body: bytes, headers: Optional[Dict[str, str]] = None) -> None:
            self._answered = True
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _answer(self, status: int, res: Any, headers: Optional[Dict[str, str]] = None) -> None:
            self._send(status, json.dumps(res).encode("utf-8"), headers)

        def _pathname(self) -> str:
            return urlsplit(self.path).path

        def do_GET(self) -> None:
            if self._pathname() == "/health":
                self._send(200, health)
            elif self._pathname() == path:
                self._answer(405, failure("METHOD_NOT_ALLOWED", f"use POST {path}", False), {"allow": "POST"})
            else:
                self._answer(404, failure("NOT_FOUND", f"no route for {self.command} {self._pathname()}", False))

        do_HEAD = do_GET

        def do_PUT(self) -> None:
            self._refuse_body()

        do_DELETE = do_PUT
        do_PATCH = do_PUT

        def _refuse_body(self) -> None:
            self._drain(self._length() or 0)
            if self._pathname() == path:
                self._answer(405, failure("METHOD_NOT_ALLOWED", f"use POST {path}", False), {"allow": "POST"})
            else:
                self._answer(404, failure("NOT_FOUND", f"no route for {self.command} {self._pathname()}", False))

        def _length(self) -> Optional[int]:
            try:
                n = int(self.headers.get("content-length", ""))
                return n if n >= 0 else None
            except ValueError:
                return None

        def _drain(self, n: int) -> None:
            while n > 0:
                chunk = self.rfile.read(min(n, 65536))
                if not chunk:
                    return
                n -= len(chunk)

        def do_POST(self) -> None:
            # The job's time left counts from here, when it arrived.
            received_at = time.monotonic()
            self._answered = False
            try:
                self._post(received_at)
            except Exception as e:  # noqa: BLE001 - a bug here is answered as the TS SDK answers it, not as a dropped connection
                if not self._answered:
                    self.close_connection = True
                    self._answer(500, failure_from_error(e))

        def _post(self, received_at: float) -> None:
            if self._pathname() != path:
                self._refuse_body()
                return
            if token is not None and not bearer_matches(self.headers.get("authorization"), token):
                # Answered unread, and the connection closed: nothing is learned from a body we refuse.
                self.close_connection = True
                self._answer(401, failure("UNAUTHORIZED", "missing or wrong bearer token", False), {"connection": "close"})
                return
            length = self._length()
            if length is None:
                self.close_connection = True
                self._answer(411, failure("VALIDATION_ERROR", "a job needs a Content-Length", False), {"connection": "close"})
                return
            if length > max_body_bytes:
                self._drain(length)
                self._answer(413, failure("VALIDATION_ERROR", f"job body exceeds {max_body_bytes} bytes", False))
                return
            text = self.rfile.read(length)
            try:
                body = json.loads(text.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                self._answer(400, failure("VALIDATION_ERROR", f"job body is not valid JSON: {e}", False))
                return
            gone = lambda: _peer_closed(self.connection)  # noqa: E731
            if isinstance(body, dict) and isinstance(body.get("batch"), list):
                self._answer_json(200, {"success": True, "results": self._batch(body["batch"], received_at, gone)})
                return
            try:
                job, target = parse_job(body, received_at)
            except WorkerError as e:
                self._answer(400, failure_from_error(e))
                return
            result = worker.run(job, http_reporter(target) if target is not None else None, gone)
            if not _peer_closed(self.connection):
                self._answer_json(200, result)

        def _batch(self, jobs: List[Any], received_at: float, gone: Any) -> List[StandardResponse]:
            """Each job of a batch call through the handler, side by side; results in order."""
            if not jobs:
                return []
            with ThreadPoolExecutor(max_workers=min(len(jobs), 32), thread_name_prefix="allot-batch") as pool:
                return list(pool.map(lambda raw: worker.handle(raw, received_at=received_at, client_gone=gone), jobs))

        def _answer_json(self, status: int, res: StandardResponse) -> None:
            try:
                text = json.dumps(res, allow_nan=False)
            except (TypeError, ValueError) as e:
                text = json.dumps(failure("WORKER_ERROR", f"handler output is not JSON-serializable: {e}", False, res.get("usage")))
            try:
                self._send(status, text.encode("utf-8"))
            except OSError:
                pass  # Allot hung up meanwhile

    server = _Server((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"allot-worker-{worker.name}", daemon=True)
    thread.start()
    host_part = f"[{host}]" if ":" in host else host
    url = f"http://{host_part}:{server.server_address[1]}{'' if path == '/' else path}"
    return WorkerServer(server, thread, url)
