"""A worker: a name, a handler, and how one job is run (deadline, cancellation, usage, progress, the standard response).

The standard response (README "Workers")::

    {"success": true, "output": ..., "usage": {"tokens": {"input", "output"}, "resources": {...}, "duration": ms}, "metadata": {...}}
    {"success": false, "error": {"code", "message", "retryable"}, "usage": {...}}
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Union

from .job import Job, WorkerError, parse_job
from .progress import ProgressReporter, http_reporter

Handler = Callable[[Job], Any]
StandardResponse = Dict[str, Any]

#: How often a running job checks whether Allot hung up (seconds).
POLL_S = 0.05
DEFAULT_DEDUPE_MAX = 1000


def empty_usage() -> Dict[str, Any]:
    return {"tokens": {"input": 0, "output": 0}, "resources": {}, "duration": 0}


def failure(code: str, message: str, retryable: bool, usage: Optional[Dict[str, Any]] = None) -> StandardResponse:
    return {"success": False, "error": {"code": code, "message": message, "retryable": retryable}, "usage": usage or empty_usage()}


def failure_from_error(err: BaseException, usage: Optional[Dict[str, Any]] = None) -> StandardResponse:
    """A WorkerError keeps its code; anything else is a retryable WORKER_ERROR (a crash)."""
    if isinstance(err, WorkerError):
        return failure(err.code, err.message, err.retryable, usage)
    return failure("WORKER_ERROR", str(err) or type(err).__name__, True, usage)


def no_time_left(job: Job) -> StandardResponse:
    """A job that arrived with no time left never runs: retryable."""
    return failure("DEADLINE_EXCEEDED", f"no time was left when the job arrived (timeout_ms {job.timeout_ms if job.timeout_ms is not None else 'absent'})", True)


class Result:
    """A handler's output with its usage, for a handler that would rather return usage than call ``job.add_usage``.

    ``return Result({"summary": s}, input_tokens=120, output_tokens=30)`` answers as
    ``job.add_usage(input_tokens=120, output_tokens=30); return {"summary": s}`` does.
    """

    __slots__ = ("output", "input_tokens", "output_tokens", "resources", "metadata")

    def __init__(self, output: Any, *, input_tokens: float = 0, output_tokens: float = 0,
                 resources: Optional[Dict[str, float]] = None, metadata: Optional[Dict[str, Any]] = None) -> None:
        self.output = output
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.resources = resources
        self.metadata = metadata


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Optional[StandardResponse] = None


class _Dedupe:
    """Successful answers by key (LRU), and runs in flight: Allot delivers at least once, and a retry may arrive while the first run works."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._done: "OrderedDict[str, StandardResponse]" = OrderedDict()
        self._running: Dict[str, _Flight] = {}

    def run(self, key: str, fn: Callable[[], StandardResponse]) -> StandardResponse:
        while True:
            with self._lock:
                stored = self._done.get(key)
                if stored is not None:
                    self._done.move_to_end(key)
                    return _deduplicated(stored)
                flight = self._running.get(key)
                if flight is None:
                    mine = _Flight()
                    self._running[key] = mine
                    break
            flight.done.wait()
            if flight.result is not None and flight.result.get("success"):
                return _deduplicated(flight.result)
            # The first run failed: this delivery is a real retry; run it (unless another waiter already is).
        result: StandardResponse = failure("WORKER_ERROR", "handler did not answer", True)
        try:
            result = fn()
            return result
        finally:
            with self._lock:
                del self._running[key]
                if result.get("success"):
                    self._done[key] = result
                    if len(self._done) > self._max:
                        self._done.popitem(last=False)
            mine.result = result
            mine.done.set()


def _deduplicated(res: StandardResponse) -> StandardResponse:
    return {**res, "metadata": {**res.get("metadata", {}), "deduplicated": True}}


class Worker:
    """A worker: its name, version and handler.

    The handler takes a :class:`Job` and returns the output (anything JSON can hold); it reports
    progress with ``job.progress(percent, message)`` and usage with ``job.add_usage(...)``, and
    raises :class:`WorkerError` to choose a failure's code. Serve it with ``serve_http(worker)``.

    :param dedupe: remember successful answers by request_id + template + stage (True: 1,000; an int: that many; False: off).
    """

    def __init__(self, name: str, handler: Optional[Handler] = None, *, version: str = "1.0.0", dedupe: Union[bool, int] = True) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("Worker: name is required")
        self.name = name
        self.version = version
        self._handler = handler
        self._dedupe = None if dedupe is False else _Dedupe(DEFAULT_DEDUPE_MAX if dedupe is True else int(dedupe))

    def handler(self, fn: Handler) -> Handler:
        """Decorator: set the handler (``@worker.handler``)."""
        self._handler = fn
        return fn

    def handle(self, raw_job: Any, *, received_at: Optional[float] = None, client_gone: Optional[Callable[[], bool]] = None) -> StandardResponse:
        """Validate and run one wire job; never raises: failures are standard responses."""
        try:
            job, target = parse_job(raw_job, received_at)
        except WorkerError as e:
            return failure_from_error(e)
        return self.run(job, http_reporter(target) if target is not None else None, client_gone)

    def run(self, job: Job, reporter: Optional[ProgressReporter], client_gone: Optional[Callable[[], bool]] = None) -> StandardResponse:
        """Run a parsed job (through the dedupe cache)."""
        if self._dedupe is None:
            return self._execute(job, reporter, client_gone)
        key = f"{job.request_id}\0{job.template}\0{job.stage}"
        return self._dedupe.run(key, lambda: self._execute(job, reporter, client_gone))

    def _execute(self, job: Job, reporter: Optional[ProgressReporter], client_gone: Optional[Callable[[], bool]]) -> StandardResponse:
        handler = self._handler
        if handler is None:
            return failure("WORKER_ERROR", f"worker {self.name!r} has no handler", False)
        left = job._left_ms()
        if left is not None and left <= 0:
            return no_time_left(job)
        if reporter is not None:
            job._progress = reporter.report
        started = time.monotonic()
        outcome: Dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                output = handler(job)
                if isinstance(output, Result):
                    job.add_usage(input_tokens=output.input_tokens, output_tokens=output.output_tokens, resources=output.resources)
                    job.metadata.update(output.metadata or {})
                    output = output.output
                outcome["output"] = output
            except BaseException as e:  # noqa: BLE001 - every failure of the handler becomes its answer
                outcome["error"] = e
            finally:
                finished.set()

        # The handler runs on a thread of its own so the answer can go at the deadline, or when Allot
        # hangs up, while a handler that ignores job.stopped finishes on its own.
        threading.Thread(target=target, name=f"allot-job-{job.request_id}", daemon=True).start()
        try:
            while True:
                left = job._left_ms()
                wait = POLL_S if left is None else max(0.0, min(POLL_S, left / 1000.0))
                if finished.wait(wait):
                    break
                if job.expired:
                    job._stop("DEADLINE_EXCEEDED")
                    budget = job._budget_ms or 0
                    return failure("DEADLINE_EXCEEDED", f"deadline exceeded: {round(budget)} ms after the job arrived", True, job._usage((time.monotonic() - started) * 1000))
                if client_gone is not None and client_gone():
                    job._stop("CANCELLED")
                    return failure("CANCELLED", "job cancelled: the client went away", True, job._usage((time.monotonic() - started) * 1000))
            usage = job._usage((time.monotonic() - started) * 1000)
            if "error" in outcome:
                return failure_from_error(outcome["error"], usage)
            output = outcome.get("output")
            try:
                json.dumps(output, allow_nan=False)
            except (TypeError, ValueError) as e:
                # The same handler would produce the same output again: not retryable.
                return failure("WORKER_ERROR", f"handler output is not JSON-serializable: {e}", False, usage)
            return {"success": True, "output": output, "usage": usage, "metadata": dict(job.metadata)}
        finally:
            job._progress = None
            if reporter is not None:
                reporter.close()
