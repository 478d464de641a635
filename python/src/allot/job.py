"""A job as a handler sees it, parsed and validated from the direct protocol's wire body.

The wire body (README "Workers")::

    {"request_id", "template", "stage", "attempt", "input", "parameters",
     "deadline_ms", "timeout_ms", "progress": {"url", "token"}}

``timeout_ms`` is how long the job had left when Allot sent it. Clocks differ
between machines, durations do not: the job's time runs out ``timeout_ms``
after it *arrived*, counted on this machine's monotonic clock; ``deadline_ms``
(an instant on Allot's clock) is used only when ``timeout_ms`` is absent.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

MAX_SAFE_INTEGER = 2**53 - 1


class WorkerError(Exception):
    """Raise from a handler to choose the failure's code and whether Allot retries it (default: retryable)."""

    def __init__(self, code: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    @classmethod
    def invalid_input(cls, message: str) -> "WorkerError":
        """The job's input or parameters are unusable: retrying the same job cannot help."""
        return cls("VALIDATION_ERROR", message, retryable=False)


def _invalid(field: str, expected: str) -> WorkerError:
    return WorkerError.invalid_input(f'invalid job: "{field}" must be {expected}')


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return _is_number(v) and float(v).is_integer() and abs(v) <= MAX_SAFE_INTEGER


class Job:
    """One job. Besides its wire fields it reports progress, adds usage and knows its time left.

    ``stopped`` is a :class:`threading.Event` set when the answer is no longer wanted: at the
    deadline (``stop_reason`` ``"DEADLINE_EXCEEDED"``) or when Allot hangs up, e.g. the request
    was cancelled (``"CANCELLED"``). The worker has already answered Allot by then; a handler
    that checks ``stopped`` (or calls :meth:`check`) stops wasting work.
    """

    def __init__(self, raw: Dict[str, Any], received_at: float, wall_at_receipt: float) -> None:
        self.request_id: str = raw["request_id"]
        self.template: str = raw["template"]
        self.stage: int = raw["stage"]
        self.attempt: int = raw["attempt"]
        self.input: Dict[str, Any] = raw["input"]
        self.parameters: Dict[str, Any] = raw["parameters"]
        #: Milliseconds the job had left when Allot sent it (``timeout_ms`` on the wire); None when not sent.
        self.timeout_ms: Optional[float] = raw.get("timeout_ms")
        #: Epoch ms on *this* machine's clock when the time is up (arrival + timeout_ms); None: no limit.
        self.deadline_ms: Optional[float] = None
        #: Copied into the response's ``metadata``.
        self.metadata: Dict[str, Any] = {}
        self.stopped = threading.Event()
        self.stop_reason: Optional[str] = None
        self._received_at = received_at
        self._budget_ms: Optional[float] = None
        self._lock = threading.Lock()
        self._tokens = {"input": 0.0, "output": 0.0}
        self._resources: Dict[str, float] = {}
        self._progress: Optional[Callable[[float, Optional[str]], None]] = None
        arrived_ms = wall_at_receipt * 1000.0
        deadline = raw.get("deadline_ms")
        if self.timeout_ms is not None:
            self._budget_ms = float(self.timeout_ms)
            self.deadline_ms = round(arrived_ms + self.timeout_ms)
        elif deadline is not None:
            # An older sender: its instant, on its clock, is all there is.
            self._budget_ms = float(deadline) - arrived_ms
            self.deadline_ms = deadline

    # ---- time --------------------------------------------------------------------

    def time_left(self) -> Optional[float]:
        """Seconds left before the deadline (0 once passed), on the monotonic clock; None when the job has no limit."""
        left = self._left_ms()
        return None if left is None else max(0.0, left / 1000.0)

    def _left_ms(self) -> Optional[float]:
        if self._budget_ms is None:
            return None
        return self._budget_ms - (time.monotonic() - self._received_at) * 1000.0

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        left = self._left_ms()
        return left is not None and left <= 0

    def check(self) -> None:
        """Raise WorkerError (DEADLINE_EXCEEDED or CANCELLED) if the job should stop."""
        if self.stopped.is_set():
            raise WorkerError(self.stop_reason or "CANCELLED", f"job stopped: {self.stop_reason}", retryable=True)
        if self.expired:
            raise WorkerError("DEADLINE_EXCEEDED", "deadline exceeded", retryable=True)

    def _stop(self, reason: str) -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stopped.set()

    # ---- reporting ---------------------------------------------------------------

    def progress(self, percent: float, message: Optional[str] = None) -> None:
        """Report progress, 0-100 (clamped); rate-limited to about 10 a second, best effort, never raises."""
        if self._progress is not None and _is_number(percent):
            self._progress(min(100.0, max(0.0, float(percent))), message)

    def add_usage(self, *, input_tokens: float = 0, output_tokens: float = 0, resources: Optional[Dict[str, float]] = None) -> None:
        """Add to the usage reported with the answer: tokens, and named resources (``{"email": 1}``)."""
        amounts = {"input_tokens": input_tokens, "output_tokens": output_tokens, **{f"resources.{k}": v for k, v in (resources or {}).items()}}
        for name, v in amounts.items():
            if not _is_number(v) or v < 0:
                raise TypeError(f"add_usage: {name} must be a finite number >= 0")
        with self._lock:
            self._tokens["input"] += input_tokens
            self._tokens["output"] += output_tokens
            for k, v in (resources or {}).items():
                self._resources[k] = self._resources.get(k, 0) + v

    def _usage(self, duration_ms: float) -> Dict[str, Any]:
        def num(v: float) -> Any:
            return int(v) if float(v).is_integer() else v

        with self._lock:
            return {
                "tokens": {"input": num(self._tokens["input"]), "output": num(self._tokens["output"])},
                "resources": {k: num(v) for k, v in self._resources.items()},
                "duration": round(duration_ms, 3),
            }

    def log(self, *args: Any) -> None:
        """Write a line to stderr, prefixed with the job."""
        sys.stderr.write(f"[{self.template} {self.request_id}/{self.stage}] {' '.join(str(a) for a in args)}\n")

    def __repr__(self) -> str:
        return f"Job(request_id={self.request_id!r}, template={self.template!r}, stage={self.stage}, attempt={self.attempt}, timeout_ms={self.timeout_ms})"


def parse_job(raw: Any, received_at: Optional[float] = None) -> Tuple[Job, Optional[Dict[str, str]]]:
    """Validate a wire job: the Job and its progress target (``{"url", "token"}`` or None).

    ``received_at``: ``time.monotonic()`` when it arrived (default now); its time left counts from there.
    Raises WorkerError VALIDATION_ERROR naming the bad field.
    """
    if received_at is None:
        received_at = time.monotonic()
    wall = time.time() - (time.monotonic() - received_at)
    if not isinstance(raw, dict):
        raise WorkerError.invalid_input("invalid job: body must be a JSON object")
    fields: Dict[str, Any] = {}
    for name in ("request_id", "template"):
        v = raw.get(name)
        if not isinstance(v, str) or not v:
            raise _invalid(name, "a non-empty string")
        fields[name] = v
    # stage and attempt default rather than fail: an older dispatcher that omits them is still served.
    for name, fallback, minimum in (("stage", 0, 0), ("attempt", 1, 1)):
        v = raw.get(name)
        if v is None:
            fields[name] = fallback
        elif not _is_int(v) or v < minimum:
            raise _invalid(name, f"an integer >= {minimum}")
        else:
            fields[name] = int(v)
    if not isinstance(raw.get("input"), dict):
        raise _invalid("input", "a JSON object")
    fields["input"] = raw["input"]
    params = raw.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _invalid("parameters", "a JSON object")
    params = dict(params)
    if "model" in params and not isinstance(params["model"], str):
        raise _invalid("parameters.model", "a string")
    if "max_tokens" in params:
        mt = params["max_tokens"]
        if mt is None:
            del params["max_tokens"]  # null means no limit
        elif not _is_int(mt) or mt < 0:
            raise _invalid("parameters.max_tokens", "a non-negative integer")
    fields["parameters"] = params
    deadline = raw.get("deadline_ms")
    if deadline is not None and not _is_number(deadline):
        raise _invalid("deadline_ms", "a number (epoch ms)")
    timeout = raw.get("timeout_ms")
    if timeout is not None and (not _is_number(timeout) or timeout < 0):
        raise _invalid("timeout_ms", "a number of milliseconds >= 0")
    fields["deadline_ms"] = deadline
    fields["timeout_ms"] = timeout
    progress = raw.get("progress")
    target: Optional[Dict[str, str]] = None
    if progress is not None:
        if not isinstance(progress, dict):
            raise _invalid("progress", 'an object with "url" and "token"')
        url = progress.get("url")
        if not isinstance(url, str) or not (url.startswith("http://") or url.startswith("https://")):
            raise _invalid("progress.url", "an http(s) URL")
        if not isinstance(progress.get("token"), str):
            raise _invalid("progress.token", "a string")
        target = {"url": url, "token": progress["token"]}
    return Job(fields, received_at, wall), target
