"""The worker's side of the direct protocol, spoken to over real HTTP as Allot speaks it (no Allot needed)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from allot import Job, Result, Worker, WorkerError, bearer_matches, serve_http

TOKEN = "worker-token-for-tests"


def job(request_id: str, **extra: Any) -> Dict[str, Any]:
    return {"request_id": request_id, "template": "t", "stage": 0, "attempt": 1, "input": {"text": "hi"}, "parameters": {}, **extra}


class Recorder:
    """A handler that does what the job's input says and remembers what it saw."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.seen: Dict[str, Dict[str, Any]] = {}
        self.done = threading.Condition()

    def __call__(self, j: Job) -> Any:
        with self.done:
            self.calls.append(j.request_id)
            self.seen[j.request_id] = {"timeout_ms": j.timeout_ms, "deadline_ms": j.deadline_ms, "time_left": j.time_left(), "wall": time.time()}
        mode = j.input.get("mode")
        if mode == "wait":
            stopped = j.stopped.wait(10)
            with self.done:
                self.seen[j.request_id].update(stopped=stopped, reason=j.stop_reason)
                self.done.notify_all()
            return None
        if mode == "progress":
            j.progress(10, "ten")
            j.progress(20, "twenty")
            time.sleep(0.25)
            j.progress(150, "over")
            return {"ok": True}
        if mode == "worker-error":
            raise WorkerError("MODEL_REFUSED", "no", retryable=False)
        if mode == "crash":
            raise ValueError("boom")
        if mode == "result":
            j.add_usage(input_tokens=1)
            return Result({"n": 1}, input_tokens=4, output_tokens=5, resources={"sms": 2}, metadata={"via": "result"})
        if mode == "bad-usage":
            return Result({"n": 1}, output_tokens=-1)
        if mode == "unserializable":
            return {"x": object()}
        j.add_usage(input_tokens=7, output_tokens=3, resources={"email": 1})
        j.metadata["seen_by"] = "python"
        return {"upper": j.input["text"].upper()}

    def wait_for(self, request_id: str, key: str, timeout: float = 5.0) -> Any:
        end = time.monotonic() + timeout
        with self.done:
            while key not in self.seen.get(request_id, {}):
                if time.monotonic() > end:
                    raise AssertionError(f"no {key} for {request_id}")
                self.done.wait(0.1)
            return self.seen[request_id][key]


class ProgressSink:
    """A stand-in for Allot's /internal/progress endpoint that records each post."""

    def __init__(self) -> None:
        posts: List[Tuple[str, Optional[str], Dict[str, Any]]] = []
        self.posts = posts

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                posts.append((self.path, self.headers.get("authorization"), body))
                out = b'{"recorded":true}'
                self.send_response(200)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DirectProtocol(unittest.TestCase):
    def setUp(self) -> None:
        self.handler = Recorder()
        self.server = serve_http(Worker("py-test", self.handler, version="2.3.4"), token=TOKEN)
        self.addCleanup(self.server.close)

    def post(self, body: Any, token: Optional[str] = TOKEN, scheme: str = "Bearer") -> Tuple[int, Dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=15)
        try:
            headers = {"content-type": "application/json"}
            if token is not None:
                headers["authorization"] = f"{scheme} {token}"
            conn.request("POST", "/", body=json.dumps(body), headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def test_runs_a_job_and_answers_the_standard_response(self) -> None:
        status, res = self.post(job("r1"))
        self.assertEqual(status, 200)
        self.assertEqual(res["success"], True)
        self.assertEqual(res["output"], {"upper": "HI"})
        self.assertEqual(res["usage"]["tokens"], {"input": 7, "output": 3})
        self.assertEqual(res["usage"]["resources"], {"email": 1})
        self.assertGreaterEqual(res["usage"]["duration"], 0)
        self.assertEqual(res["metadata"], {"seen_by": "python"})

    def test_refuses_a_missing_or_wrong_token(self) -> None:
        for token in (None, "wrong-token", TOKEN + "x", ""):
            status, res = self.post(job("r-auth"), token=token)
            self.assertEqual(status, 401, token)
            self.assertEqual(res["error"], {"code": "UNAUTHORIZED", "message": "missing or wrong bearer token", "retryable": False})
        self.assertEqual(self.handler.calls, [], "the handler never ran")
        status, _ = self.post(job("r-auth"), scheme="bearer")
        self.assertEqual(status, 200, "the scheme is case-insensitive")

    def test_bearer_matches(self) -> None:
        self.assertTrue(bearer_matches(f"Bearer {TOKEN}", TOKEN))
        self.assertTrue(bearer_matches(f"BEARER \t{TOKEN} ", TOKEN))
        self.assertFalse(bearer_matches(f"Basic {TOKEN}", TOKEN))
        self.assertFalse(bearer_matches("Bearer ", TOKEN))
        self.assertFalse(bearer_matches(None, TOKEN))

    def test_health_is_open_and_names_the_protocol(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, {"status": "healthy", "service": "py-test", "version": "2.3.4",
                                "capabilities": {"protocol": "allot-direct/1", "batch": True, "batch_handler": False}})

    def test_the_deadline_is_a_duration_counted_from_arrival(self) -> None:
        # deadline_ms an hour in the past on this clock: timeout_ms wins, clocks differ between machines.
        started = time.monotonic()
        status, res = self.post(job("r-deadline", input={"mode": "wait"}, timeout_ms=400, deadline_ms=time.time() * 1000 - 3_600_000))
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertEqual(res["success"], False)
        self.assertEqual(res["error"]["code"], "DEADLINE_EXCEEDED")
        self.assertTrue(res["error"]["retryable"])
        self.assertGreaterEqual(elapsed, 0.38)
        self.assertLess(elapsed, 2.0)
        seen = self.handler.seen["r-deadline"]
        self.assertEqual(seen["timeout_ms"], 400)
        self.assertAlmostEqual(seen["deadline_ms"], seen["wall"] * 1000 + 400, delta=50)
        self.assertLessEqual(seen["time_left"], 0.4)
        self.assertGreater(seen["time_left"], 0)
        self.assertTrue(self.handler.wait_for("r-deadline", "stopped"))
        self.assertEqual(self.handler.wait_for("r-deadline", "reason"), "DEADLINE_EXCEEDED")

    def test_an_older_sender_gives_only_deadline_ms(self) -> None:
        deadline = time.time() * 1000 + 30_000
        status, res = self.post(job("r-old", deadline_ms=deadline))
        self.assertEqual((status, res["success"]), (200, True))
        seen = self.handler.seen["r-old"]
        self.assertIsNone(seen["timeout_ms"])
        self.assertEqual(seen["deadline_ms"], deadline)
        self.assertAlmostEqual(seen["time_left"], 30, delta=1)

    def test_no_time_left_is_refused_without_running(self) -> None:
        status, res = self.post(job("r-late", timeout_ms=0))
        self.assertEqual(status, 200)
        self.assertEqual(res["error"]["code"], "DEADLINE_EXCEEDED")
        self.assertTrue(res["error"]["retryable"])
        self.assertEqual(self.handler.calls, [])

    def test_a_job_without_a_deadline_has_no_time_limit(self) -> None:
        self.post(job("r-free"))
        self.assertIsNone(self.handler.seen["r-free"]["time_left"])
        self.assertIsNone(self.handler.seen["r-free"]["deadline_ms"])

    def test_hanging_up_stops_the_handler(self) -> None:
        body = json.dumps(job("r-gone", input={"mode": "wait"})).encode()
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer " + TOKEN.encode()
                     + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.handler.wait_for("r-gone", "wall")
        sock.close()
        self.assertTrue(self.handler.wait_for("r-gone", "stopped"))
        self.assertEqual(self.handler.wait_for("r-gone", "reason"), "CANCELLED")

    def test_invalid_jobs_name_the_field(self) -> None:
        cases = [
            ({"template": "t", "input": {}}, '"request_id" must be a non-empty string'),
            (job("r", input=[1]), '"input" must be a JSON object'),
            (job("r", attempt=0), '"attempt" must be an integer >= 1'),
            (job("r", stage=True), '"stage" must be an integer >= 0'),
            (job("r", timeout_ms=-1), '"timeout_ms" must be a number of milliseconds >= 0'),
            (job("r", deadline_ms="soon"), '"deadline_ms" must be a number (epoch ms)'),
            (job("r", parameters={"max_tokens": 1.5}), '"parameters.max_tokens" must be a non-negative integer'),
            (job("r", progress={"url": "ftp://x", "token": "t"}), '"progress.url" must be an http(s) URL'),
        ]
        for body, message in cases:
            status, res = self.post(body)
            self.assertEqual(status, 400, body)
            self.assertEqual(res["error"]["code"], "VALIDATION_ERROR")
            self.assertIn(message, res["error"]["message"])
            self.assertFalse(res["error"]["retryable"])
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        conn.request("POST", "/", body=b"{not json", headers={"authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 400)
        self.assertIn("not valid JSON", json.loads(resp.read())["error"]["message"])
        conn.close()
        self.assertEqual(self.handler.calls, [])

    def test_failures_keep_their_code_and_retry_meaning(self) -> None:
        _, res = self.post(job("r-we", input={"mode": "worker-error"}))
        self.assertEqual(res["error"], {"code": "MODEL_REFUSED", "message": "no", "retryable": False})
        _, res = self.post(job("r-crash", input={"mode": "crash"}))
        self.assertEqual(res["error"], {"code": "WORKER_ERROR", "message": "boom", "retryable": True})
        _, res = self.post(job("r-bad-output", input={"mode": "unserializable"}))
        self.assertEqual(res["error"]["code"], "WORKER_ERROR")
        self.assertFalse(res["error"]["retryable"])

    def test_a_result_carries_usage_and_metadata(self) -> None:
        _, res = self.post(job("r-result", input={"mode": "result"}))
        self.assertEqual(res["success"], True)
        self.assertEqual(res["output"], {"n": 1})
        self.assertEqual(res["usage"]["tokens"], {"input": 5, "output": 5})
        self.assertEqual(res["usage"]["resources"], {"sms": 2})
        self.assertEqual(res["metadata"], {"via": "result"})
        _, res = self.post(job("r-bad-usage", input={"mode": "bad-usage"}))
        self.assertEqual(res["error"]["code"], "WORKER_ERROR")
        self.assertIn("output_tokens must be a finite number >= 0", res["error"]["message"])

    def test_a_repeated_delivery_is_answered_without_running_again(self) -> None:
        _, first = self.post(job("r-dup"))
        _, second = self.post(job("r-dup"))
        self.assertEqual(self.handler.calls, ["r-dup"])
        self.assertEqual(second["output"], first["output"])
        self.assertTrue(second["metadata"]["deduplicated"])
        # A failure is not remembered: a retry runs for real.
        self.post(job("r-dup-fail", input={"mode": "crash"}))
        self.post(job("r-dup-fail", input={"mode": "crash"}))
        self.assertEqual(self.handler.calls.count("r-dup-fail"), 2)

    def test_a_batch_answers_each_job_in_order(self) -> None:
        status, res = self.post({"batch": [job("b1"), {"template": "t"}, job("b3", input={"text": "yo"})]})
        self.assertEqual(status, 200)
        self.assertEqual(res["success"], True)
        self.assertEqual([r["success"] for r in res["results"]], [True, False, True])
        self.assertEqual(res["results"][0]["output"], {"upper": "HI"})
        self.assertEqual(res["results"][1]["error"]["code"], "VALIDATION_ERROR")
        self.assertEqual(res["results"][2]["output"], {"upper": "YO"})

    def test_progress_is_posted_with_the_token_latest_value_kept(self) -> None:
        sink = ProgressSink()
        self.addCleanup(sink.close)
        status, res = self.post(job("r-prog", input={"mode": "progress"}, progress={"url": f"{sink.url}/internal/progress/r-prog", "token": "prog-token"}))
        self.assertEqual((status, res["success"]), (200, True))
        self.assertTrue(sink.posts, "progress was posted before the answer")
        for path, auth, _ in sink.posts:
            self.assertEqual(path, "/internal/progress/r-prog")
            self.assertEqual(auth, "Bearer prog-token")
        bodies = [b for _, _, b in sink.posts]
        # Within 100 ms only the newest is kept (10 may be replaced by 20 before it goes); after a pause the
        # newest (20) always goes; 150 is clamped to 100 and goes last.
        ten, twenty, over = {"progress": 10, "message": "ten"}, {"progress": 20, "message": "twenty"}, {"progress": 100, "message": "over"}
        self.assertIn(bodies, ([ten, twenty, over], [twenty, over]))

    def test_wrong_method_and_path(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.getheader("allow")), (405, "POST"))
        resp.read()
        conn.request("POST", "/elsewhere", body=b"{}", headers={"authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 404)
        self.assertEqual(json.loads(resp.read())["error"]["code"], "NOT_FOUND")
        conn.close()

    def test_keep_alive_serves_several_jobs_on_one_connection(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        for i in range(3):
            conn.request("POST", "/", body=json.dumps(job(f"ka{i}")), headers={"authorization": f"Bearer {TOKEN}"})
            resp = conn.getresponse()
            self.assertEqual(json.loads(resp.read())["output"], {"upper": "HI"})
        conn.close()
        self.assertEqual(self.handler.calls, ["ka0", "ka1", "ka2"])


if __name__ == "__main__":
    unittest.main()
