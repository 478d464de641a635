"""Allot for Python: a client of Allot's API and a worker SDK for its direct HTTP protocol (standard library only).

Client::

    from allot import Client
    allot = Client("http://127.0.0.1:8787", api_key="ak_...", client_id="cl_...")
    done = allot.execute("summarize", {"text": "..."})
    print(done["status"], done["output"], done["cost_usd"])

Worker::

    from allot import Worker, serve_http

    def summarize(job):
        job.progress(50, "half way")
        job.add_usage(input_tokens=120, output_tokens=30)
        return {"summary": job.input["text"][:100]}

    serve_http(Worker("summarizer", summarize), port=9200, token="a-worker-token").wait()
"""

from ._http import Response
from .client import TERMINAL_STATES, Client
from .errors import (
    AllotError,
    BudgetExceeded,
    ClientTimeout,
    Conflict,
    ConnectionFailed,
    Forbidden,
    IdempotencyMismatch,
    InsufficientResources,
    InternalError,
    NotFound,
    PayloadTooLarge,
    QueueBackup,
    RateLimited,
    RequestTimeout,
    Unauthorized,
    ValidationError,
)
from .job import Job, WorkerError, parse_job
from .server import PROTOCOL, WorkerServer, bearer_matches, serve_http
from .sse import Event
from .worker import Result, Worker

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL",
    "TERMINAL_STATES",
    "AllotError",
    "BudgetExceeded",
    "Client",
    "ClientTimeout",
    "Conflict",
    "ConnectionFailed",
    "Event",
    "Forbidden",
    "IdempotencyMismatch",
    "InsufficientResources",
    "InternalError",
    "Job",
    "NotFound",
    "PayloadTooLarge",
    "QueueBackup",
    "RateLimited",
    "RequestTimeout",
    "Response",
    "Result",
    "Unauthorized",
    "ValidationError",
    "Worker",
    "WorkerError",
    "WorkerServer",
    "__version__",
    "bearer_matches",
    "parse_job",
    "serve_http",
]
