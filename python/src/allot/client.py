"""The client API (``/api/*``): submit, execute and wait, follow, cancel, usage, cost and estimates.

Every method answers the JSON object Allot answers, field names as Allot
spells them (README "The API"), as a :class:`Response` (a dict with
``.http_status``); an error answer raises the :class:`AllotError` subclass of
its code.
"""

from __future__ import annotations

import http.client
import socket
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import quote, urlencode

from ._http import Endpoint, Response, open_request, read_error, request_json
from .errors import ClientTimeout, ConnectionFailed
from .sse import Event, parse_events

TERMINAL_STATES = frozenset(["COMPLETED", "FAILED", "CANCELLED"])


def _seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(str(value), safe="")


class Client:
    """A client of Allot, authenticated by its API key (or the admin key, which may read any client's data).

    :param base_url: Allot's URL, e.g. ``http://127.0.0.1:8787`` (a path prefix is kept).
    :param api_key: sent as ``Authorization: Bearer <api_key>``.
    :param client_id: the client's id, for the usage methods when they are not given one.
    :param timeout: seconds to wait for an answer (connect and each read); ``execute`` adds its ``wait_ms``.

    Each call opens its own connection, so one Client may be shared between threads.
    """

    def __init__(self, base_url: str, api_key: str, *, client_id: Optional[str] = None, timeout: float = 30.0, ssl_context: Any = None) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self._endpoint = Endpoint(base_url, ssl_context)
        self._headers = {"authorization": f"Bearer {api_key}", "user-agent": "allot-python/0.1"}
        self.client_id = client_id
        self.timeout = timeout

    # ---- calls ---------------------------------------------------------------

    def _call(self, method: str, path: str, body: Optional[Any] = None, headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None) -> Response:
        return request_json(self._endpoint, method, path, {**self._headers, **(headers or {})}, body, self.timeout if timeout is None else timeout)

    @staticmethod
    def _submit_body(template: str, input: Dict[str, Any], urgency: Optional[str], max_tokens: Optional[int], parameters: Optional[Dict[str, Any]],
                     queue: Optional[str], optimize: Optional[bool]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"template": template, "input": input}
        for key, value in (("urgency", urgency), ("max_tokens", max_tokens), ("parameters", parameters), ("queue", queue), ("optimize", optimize)):
            if value is not None:
                body[key] = value
        return body

    # ---- submitting ----------------------------------------------------------

    def submit(self, template: str, input: Dict[str, Any], *, urgency: Optional[str] = None, max_tokens: Optional[int] = None,
               parameters: Optional[Dict[str, Any]] = None, queue: Optional[str] = None, optimize: Optional[bool] = None,
               idempotency_key: Optional[str] = None) -> Response:
        """``POST /api/queue/enqueue``: ``{request_id, status, estimate, status_url}``.

        ``http_status`` is 202 for a new request, 200 for a repeated ``idempotency_key``
        (the original request); the same key with another body raises IdempotencyMismatch.
        """
        headers = {"idempotency-key": idempotency_key} if idempotency_key is not None else None
        return self._call("POST", "/api/queue/enqueue", self._submit_body(template, input, urgency, max_tokens, parameters, queue, optimize), headers)

    def submit_batch(self, requests: List[Dict[str, Any]]) -> Response:
        """``POST /api/queue/enqueue/batch``: up to 1,000 requests (each may carry ``idempotency_key``); ``{results: [...]}`` in order."""
        return self._call("POST", "/api/queue/enqueue/batch", {"requests": requests})

    def execute(self, template: str, input: Dict[str, Any], *, wait_ms: Optional[int] = None, urgency: Optional[str] = None,
                max_tokens: Optional[int] = None, parameters: Optional[Dict[str, Any]] = None, queue: Optional[str] = None,
                optimize: Optional[bool] = None, idempotency_key: Optional[str] = None) -> Response:
        """``POST /api/execute``: submit and wait up to ``wait_ms`` (Allot's default 30 s).

        Finished (``status`` COMPLETED, FAILED or CANCELLED): the execution, ``http_status`` 200.
        Still running: ``{request_id, status, status_url}`` with ``http_status`` 202; follow it with
        :meth:`wait` or :meth:`events`.
        """
        body = self._submit_body(template, input, urgency, max_tokens, parameters, queue, optimize)
        if wait_ms is not None:
            body["wait_ms"] = wait_ms
        headers = {"idempotency-key": idempotency_key} if idempotency_key is not None else None
        # Allot holds the answer up to wait_ms (30 s by default): the read may take that long.
        return self._call("POST", "/api/execute", body, headers, timeout=self.timeout + (30.0 if wait_ms is None else wait_ms / 1000.0))

    # ---- following -----------------------------------------------------------

    def status(self, request_id: str) -> Response:
        """``GET /api/execution/{id}``: status, attempts, progress, output, error, usage, ``cost_usd``…"""
        return self._call("GET", f"/api/execution/{_seg(request_id)}")

    def list_executions(self, *, status: Optional[str] = None, template: Optional[str] = None, limit: Optional[int] = None, before: Optional[str] = None) -> Response:
        """``GET /api/executions``: the caller's requests, newest first (``status`` may be comma-separated states)."""
        query = {k: v for k, v in (("status", status), ("template", template), ("limit", limit), ("before", before)) if v is not None}
        return self._call("GET", "/api/executions" + (f"?{urlencode(query)}" if query else ""))

    def position(self, request_id: str) -> Response:
        """``GET /api/queue/position/{id}``: ``position`` (1 = next) and the live score."""
        return self._call("GET", f"/api/queue/position/{_seg(request_id)}")

    def queue_status(self) -> Response:
        """``GET /api/queue/status``: depth and oldest wait per level."""
        return self._call("GET", "/api/queue/status")

    def events(self, request_id: str, *, timeout: Optional[float] = 60.0) -> Iterator[Event]:
        """``GET /api/execution/{id}/events``: the request as Server-Sent Events, as they come.

        A ``status`` event first, ``progress`` events (``{percent, message}``) as the worker reports,
        ``status`` on a start or a retry, and a final ``end`` event with the finished execution, after
        which the iterator ends. The stream is opened at once (an unknown id raises NotFound here,
        not at the first event). ``timeout``: seconds without a byte before ClientTimeout (Allot sends
        a keep-alive comment every 15 s). Closing the iterator (``.close()``) closes the stream.
        """
        conn, resp = open_request(self._endpoint, "GET", f"/api/execution/{_seg(request_id)}/events", {**self._headers, "accept": "text/event-stream"}, None, timeout)
        if resp.status >= 400:
            try:
                raise read_error(resp)
            finally:
                conn.close()
        return self._read_events(conn, resp, request_id, timeout)

    @staticmethod
    def _read_events(conn: Any, resp: Any, request_id: str, timeout: Optional[float]) -> Iterator[Event]:
        try:
            for event in parse_events(resp.readline):
                yield event
                if event.event == "end":
                    return
        except socket.timeout as e:
            raise ClientTimeout("CLIENT_TIMEOUT", f"event stream of {request_id}: nothing for {timeout} s") from e
        except (OSError, http.client.HTTPException) as e:
            raise ConnectionFailed("CONNECTION_ERROR", f"event stream of {request_id} cut off: {e}") from e
        finally:
            conn.close()

    def wait(self, request_id: str, *, timeout: Optional[float] = None) -> Response:
        """Follow the request's events until it ends, then answer its execution (as :meth:`status`)."""
        for event in self.events(request_id, timeout=timeout if timeout is not None else 60.0):
            if event.event == "end" and isinstance(event.data, dict):
                return Response(event.data, 200, {})
        # The stream ended without an end event (Allot stopped?): read what it is now.
        return self.status(request_id)

    def cancel(self, request_id: str) -> Response:
        """``POST /api/execution/{id}/cancel``: from any unfinished state; Conflict once it has ended."""
        return self._call("POST", f"/api/execution/{_seg(request_id)}/cancel")

    def remove(self, request_id: str) -> Response:
        """``DELETE /api/queue/{id}``: remove a request still queued; Conflict once it runs."""
        return self._call("DELETE", f"/api/queue/{_seg(request_id)}")

    # ---- usage and cost ------------------------------------------------------

    def _client(self, client_id: Optional[str]) -> str:
        cid = client_id or self.client_id
        if not cid:
            raise ValueError("client_id is required (pass it here or to Client(...))")
        return cid

    def usage(self, client_id: Optional[str] = None, *, period: Optional[str] = None) -> Response:
        """``GET /api/usage/{client_id}``: spend per period (``YYYY-MM``) and per template."""
        query = f"?{urlencode({'period': period})}" if period is not None else ""
        return self._call("GET", f"/api/usage/{_seg(self._client(client_id))}{query}")

    def current_usage(self, client_id: Optional[str] = None) -> Response:
        """``GET /api/usage/{client_id}/current``: this period's ``spent_usd``, ``held_usd``, ``budget_usd``, ``remaining_usd``."""
        return self._call("GET", f"/api/usage/{_seg(self._client(client_id))}/current")

    def cost(self, request_id: str) -> Response:
        """``GET /api/cost/{id}``: what a request cost (``cost_usd``, ``usage``, ``final``)."""
        return self._call("GET", f"/api/cost/{_seg(request_id)}")

    def estimate_cost(self, template: str, input: Dict[str, Any], *, max_tokens: Optional[int] = None) -> Response:
        """``POST /api/cost/estimate``: ``max_cost_usd``, ``input_tokens``, and whether the budget covers it."""
        body: Dict[str, Any] = {"template": template, "input": input}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return self._call("POST", "/api/cost/estimate", body)

    def estimate_resources(self, template: str, input: Dict[str, Any], *, max_tokens: Optional[int] = None) -> Response:
        """``POST /api/resources/estimate``: what the request needs per resource and whether it fits now."""
        body: Dict[str, Any] = {"template": template, "input": input}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return self._call("POST", "/api/resources/estimate", body)

    def availability(self) -> Response:
        """``GET /api/resources/availability``: every bucket's capacity, level and prices."""
        return self._call("GET", "/api/resources/availability")

    def check_resources(self, resources: Dict[str, float]) -> Response:
        """``POST /api/resources/check``: could these amounts be reserved now."""
        return self._call("POST", "/api/resources/check", {"resources": resources})
