"""One HTTP call to Allot over http.client (standard library only): JSON in, JSON out, errors as AllotError."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from .errors import AllotError, ClientTimeout, ConnectionFailed, error_from_response


class Response(dict):  # type: ignore[type-arg]
    """A JSON object Allot answered, with the HTTP status it came with (``.http_status``) and its headers."""

    http_status: int
    headers: Dict[str, str]

    def __init__(self, body: Dict[str, Any], http_status: int, headers: Dict[str, str]) -> None:
        super().__init__(body)
        self.http_status = http_status
        self.headers = headers


class Endpoint:
    """Where Allot is (scheme, host, port, path prefix) and how to open a connection to it."""

    def __init__(self, base_url: str, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl_context = ssl_context

    def connect(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        if self.secure:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context or ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def _retry_after(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def open_request(
    endpoint: Endpoint,
    method: str,
    path: str,
    headers: Dict[str, str],
    body: Optional[Any],
    timeout: Optional[float],
) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send a request and return the open connection and response (the caller reads and closes them)."""
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
    all_headers = {"accept": "application/json", **headers}
    if data is not None:
        all_headers["content-type"] = "application/json"
    conn = endpoint.connect(timeout)
    try:
        conn.request(method, endpoint.prefix + path, body=data, headers=all_headers)
        return conn, conn.getresponse()
    except socket.timeout as e:
        conn.close()
        raise ClientTimeout("CLIENT_TIMEOUT", f"{method} {path}: no answer within {timeout} s") from e
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise ConnectionFailed("CONNECTION_ERROR", f"{method} {path}: {e}") from e


def read_error(resp: http.client.HTTPResponse) -> AllotError:
    """The AllotError an error answer stands for."""
    raw = resp.read()
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        body = raw.decode("utf-8", "replace")
    return error_from_response(resp.status, body, _retry_after(resp.getheader("retry-after")))


def request_json(
    endpoint: Endpoint,
    method: str,
    path: str,
    headers: Dict[str, str],
    body: Optional[Any] = None,
    timeout: Optional[float] = None,
) -> Response:
    """One call: the JSON object answered on 2xx, else the AllotError for the answer."""
    conn, resp = open_request(endpoint, method, path, headers, body, timeout)
    try:
        if resp.status >= 400:
            raise read_error(resp)
        try:
            raw = resp.read()
        except socket.timeout as e:
            raise ClientTimeout("CLIENT_TIMEOUT", f"{method} {path}: answer cut off after {timeout} s") from e
        except (OSError, http.client.HTTPException) as e:
            raise ConnectionFailed("CONNECTION_ERROR", f"{method} {path}: answer cut off: {e}") from e
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else {}
        except (ValueError, UnicodeDecodeError) as e:
            raise AllotError("INTERNAL_ERROR", f"{method} {path}: answer is not JSON", status=resp.status) from e
        if not isinstance(parsed, dict):
            raise AllotError("INTERNAL_ERROR", f"{method} {path}: answer is not a JSON object", status=resp.status)
        return Response(parsed, resp.status, {k.lower(): v for k, v in resp.getheaders()})
    finally:
        conn.close()
