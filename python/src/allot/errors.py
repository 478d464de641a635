"""Errors raised by the client, one class per stable Allot error code.

Allot answers every failure with one envelope,
``{"success": false, "error": {"code", "message", "details"}}``; the code is
stable (src/core/errors.ts is the catalogue) and is what callers branch on.
:class:`AllotError` carries it as ``.code`` with the HTTP ``.status``; the
subclasses below let ``except NotFound:`` read as what it means.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class AllotError(Exception):
    """A failure answered by Allot (or reaching it).

    ``code`` is Allot's stable error code (``"NOT_FOUND"``, ``"BUDGET_EXCEEDED"``…),
    ``status`` the HTTP status (0 when Allot was not reached), ``details`` the
    envelope's details, ``retry_after`` the ``Retry-After`` header in seconds.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 0,
        details: Optional[Dict[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (as the catalogue says of the code)."""
        return self.code in _RETRYABLE

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.status == 0 else f"{self.code} ({self.status}): {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class ValidationError(AllotError):
    """400 VALIDATION_ERROR: the message names each bad field."""


class Unauthorized(AllotError):
    """401 UNAUTHORIZED: missing or wrong key."""


class BudgetExceeded(AllotError):
    """402 BUDGET_EXCEEDED: the worst-case cost does not fit the remaining budget."""


class Forbidden(AllotError):
    """403 FORBIDDEN: not allowed for this key (another client's usage)."""


class NotFound(AllotError):
    """404 NOT_FOUND (also another client's request: it is not yours to see)."""


class RequestTimeout(AllotError):
    """408 REQUEST_TIMEOUT."""


class Conflict(AllotError):
    """409 CONFLICT: e.g. cancelling a request that has already ended."""


class PayloadTooLarge(AllotError):
    """413 PAYLOAD_TOO_LARGE."""


class IdempotencyMismatch(AllotError):
    """422 IDEMPOTENCY_MISMATCH: the Idempotency-Key was used with another body."""


class InsufficientResources(AllotError):
    """429 INSUFFICIENT_RESOURCES: not enough capacity now; see ``retry_after``."""


RateLimited = InsufficientResources


class QueueBackup(AllotError):
    """503 QUEUE_BACKUP: the queue is full or a service Allot needs is down; see ``retry_after``."""


class InternalError(AllotError):
    """500 INTERNAL_ERROR."""


class ConnectionFailed(AllotError):
    """Allot could not be reached (code ``CONNECTION_ERROR``, status 0)."""


class ClientTimeout(ConnectionFailed):
    """Allot did not answer within the client's timeout (code ``CLIENT_TIMEOUT``, status 0)."""


# The catalogue's codes (src/core/errors.ts) → the class raised for each.
ERROR_CLASSES: Dict[str, Type[AllotError]] = {
    "VALIDATION_ERROR": ValidationError,
    "UNAUTHORIZED": Unauthorized,
    "BUDGET_EXCEEDED": BudgetExceeded,
    "FORBIDDEN": Forbidden,
    "NOT_FOUND": NotFound,
    "CONFLICT": Conflict,
    "REQUEST_TIMEOUT": RequestTimeout,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "IDEMPOTENCY_MISMATCH": IdempotencyMismatch,
    "INSUFFICIENT_RESOURCES": InsufficientResources,
    "QUEUE_BACKUP": QueueBackup,
    "INTERNAL_ERROR": InternalError,
}

_RETRYABLE = frozenset(
    ["REQUEST_TIMEOUT", "INSUFFICIENT_RESOURCES", "INTERNAL_ERROR", "WORKER_ERROR", "WORKER_UNAVAILABLE", "QUEUE_BACKUP",
     "CONNECTION_ERROR", "CLIENT_TIMEOUT"]
)

# An error answer without Allot's envelope (a proxy in between): the code its status would have had.
_BY_STATUS = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 402: "BUDGET_EXCEEDED", 403: "FORBIDDEN", 404: "NOT_FOUND",
              408: "REQUEST_TIMEOUT", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 422: "IDEMPOTENCY_MISMATCH",
              429: "INSUFFICIENT_RESOURCES", 503: "QUEUE_BACKUP"}


def error_from_response(status: int, body: Any, retry_after: Optional[float] = None) -> AllotError:
    """The exception for an error answer: from Allot's envelope when it has one."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        code = err["code"]
        message = err.get("message") if isinstance(err.get("message"), str) else code
        details = err.get("details") if isinstance(err.get("details"), dict) else None
    else:
        code = _BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "HTTP_ERROR")
        text = body if isinstance(body, str) else ""
        message = f"HTTP {status} without Allot's error envelope" + (f": {text[:200]}" if text else "")
        details = None
    cls = ERROR_CLASSES.get(code, AllotError)
    return cls(code, message, status=status, details=details, retry_after=retry_after)
