"""The client and the worker together against a real Allot: every call real HTTP, the jobs run by the Python worker."""

from __future__ import annotations

import math
import threading
import unittest
import uuid

import allot as sdk
from _support import DEADLINE_TIMEOUT_MS, GO, MAX_TOKENS, MODEL, SEEN, allot, seen


def text(words: int = 40) -> str:
    return " ".join(f"word{i}" for i in range(words)) + f" {uuid.uuid4().hex}"


class SubmitAndFollow(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.a = allot()
        cls.client = cls.a.new_client()

    def test_submit_with_idempotency_key_returns_the_same_request(self) -> None:
        key = f"order-{uuid.uuid4().hex}"
        body = {"mode": "echo", "text": text()}
        first = self.client.submit(self.a.echo, body, idempotency_key=key, urgency="high")
        self.assertEqual(first.http_status, 202)
        self.assertTrue(first["request_id"])
        self.assertEqual(first["status_url"], f"/api/execution/{first['request_id']}")
        self.assertGreater(first["estimate"]["input_tokens"], 0)
        again = self.client.submit(self.a.echo, body, idempotency_key=key, urgency="high")
        self.assertEqual(again.http_status, 200, "a repeated key answers the original request")
        self.assertEqual(again["request_id"], first["request_id"])
        with self.assertRaises(sdk.IdempotencyMismatch) as caught:
            self.client.submit(self.a.echo, {"mode": "echo", "text": "another body"}, idempotency_key=key)
        self.assertEqual(caught.exception.code, "IDEMPOTENCY_MISMATCH")
        self.assertEqual(caught.exception.status, 422)
        done = self.client.wait(first["request_id"], timeout=30)
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual(done["idempotency_key"], key)
        self.assertEqual(seen(first["request_id"], "attempt"), 1)

    def test_execute_waits_for_the_output_and_status_shows_it(self) -> None:
        body = {"mode": "echo", "text": text(), "in": 321, "out": 45}
        done = self.client.execute(self.a.echo, body, wait_ms=20000)
        self.assertEqual(done.http_status, 200)
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual(done["output"], {"echo": body, "template": self.a.echo, "attempt": 1})
        self.assertEqual(done["usage"]["tokens"], {"input": 321, "output": 45})
        # The job carried the template's model and max_tokens, and the time it had.
        self.assertEqual(seen(done["request_id"], "parameters"), {"model": MODEL, "max_tokens": MAX_TOKENS})
        status = self.client.status(done["request_id"])
        self.assertEqual(status["request_id"], done["request_id"])
        self.assertEqual(status["template"], self.a.echo)
        self.assertEqual(status["status"], "COMPLETED")
        self.assertEqual(status["attempts"], 1)
        self.assertEqual(status["output"], done["output"])
        self.assertEqual(status["client_id"], self.client.client_id)
        listed = self.client.list_executions(template=self.a.echo, status="COMPLETED", limit=100)
        self.assertIn(done["request_id"], [r["request_id"] for r in listed["requests"]])

    def test_progress_reported_by_the_worker_arrives_as_events(self) -> None:
        accepted = self.client.submit(self.a.echo, {"mode": "progress", "text": text()})
        rid = accepted["request_id"]
        go = GO.setdefault(rid, threading.Event())
        events = []
        stream = self.client.events(rid, timeout=30)
        try:
            for event in stream:
                events.append(event)
                # The stream is subscribed once its first event is out: now the worker may report.
                go.set()
        finally:
            stream.close()
        names = [e.event for e in events]
        self.assertEqual(names[0], "status", names)
        self.assertEqual(names[-1], "end", names)
        progress = [e.data for e in events if e.event == "progress"]
        self.assertEqual([(p["percent"], p["message"]) for p in progress], [(25, "quarter"), (50, "half"), (75, "three quarters")], names)
        end = events[-1].data
        self.assertEqual(end["request_id"], rid)
        self.assertEqual(end["status"], "COMPLETED")
        self.assertEqual(end["output"], {"done": True})

    def test_cancel_a_running_request_stops_the_handler(self) -> None:
        rid = self.client.submit(self.a.echo, {"mode": "slow", "text": text()})["request_id"]
        self.assertTrue(seen(rid, "started"))
        cancelled = self.client.cancel(rid)
        self.assertEqual(cancelled["status"], "CANCELLED")
        # Allot hung up on the worker: the handler was told to stop.
        self.assertTrue(seen(rid, "stopped"))
        self.assertEqual(seen(rid, "stop_reason"), "CANCELLED")
        self.assertEqual(self.client.status(rid)["status"], "CANCELLED")
        with self.assertRaises(sdk.Conflict) as caught:
            self.client.cancel(rid)
        self.assertEqual(caught.exception.code, "CONFLICT")
        self.assertEqual(caught.exception.status, 409)

    def test_the_handler_sees_the_deadline_and_is_stopped_at_it(self) -> None:
        done = self.client.execute(self.a.deadline, {"mode": "deadline", "text": text()}, wait_ms=15000)
        rid = done["request_id"]
        self.assertEqual(done["status"], "FAILED", done)
        self.assertIn(done["error"]["code"], ("REQUEST_TIMEOUT", "DEADLINE_EXCEEDED"), done["error"])
        timeout_ms = seen(rid, "timeout_ms")
        self.assertIsNotNone(timeout_ms, "the job carries the time it has left")
        self.assertGreater(timeout_ms, DEADLINE_TIMEOUT_MS - 1000)
        self.assertLessEqual(timeout_ms, DEADLINE_TIMEOUT_MS)
        # deadline_ms is on the worker's own clock: arrival + timeout_ms.
        self.assertAlmostEqual(seen(rid, "deadline_ms"), seen(rid, "wall") * 1000 + timeout_ms, delta=100)
        self.assertLessEqual(seen(rid, "time_left"), timeout_ms / 1000)
        self.assertTrue(seen(rid, "stopped"), "the handler was stopped")
        self.assertIn(seen(rid, "stop_reason"), ("DEADLINE_EXCEEDED", "CANCELLED"))
        after = seen(rid, "stopped_after_s")
        self.assertGreater(after, timeout_ms / 1000 - 0.5)
        self.assertLess(after, timeout_ms / 1000 + 2)


class Queue(unittest.TestCase):
    def test_position_remove_and_batch_while_the_scheduler_is_paused(self) -> None:
        a = allot()
        client = a.new_client()
        a.admin("POST", "/admin/scheduler/stop")
        try:
            queued = client.submit(a.echo, {"mode": "echo", "text": text()})
            where = client.position(queued["request_id"])
            self.assertEqual(where["status"], "PENDING")
            self.assertGreaterEqual(where["position"], 1)
            self.assertGreaterEqual(client.queue_status()["queued"], 1)
            removed = client.remove(queued["request_id"])
            self.assertEqual(removed["status"], "CANCELLED")
            key = f"batch-{uuid.uuid4().hex}"
            batch = client.submit_batch([
                {"template": a.echo, "input": {"mode": "echo", "text": text()}, "idempotency_key": key},
                {"template": a.echo, "input": {"mode": "echo"}, "urgency": "whenever"},
            ])
            first, bad = batch["results"]
            self.assertTrue(first["created"])
            self.assertEqual(bad["error"]["code"], "VALIDATION_ERROR")
        finally:
            a.admin("POST", "/admin/scheduler/start")
        done = client.wait(first["request_id"], timeout=30)
        self.assertEqual(done["status"], "COMPLETED", done)
        with self.assertRaises(sdk.Conflict):
            client.remove(first["request_id"])


class UsageAndCost(unittest.TestCase):
    def test_cost_and_usage_after_completion(self) -> None:
        a = allot()
        client = a.new_client()
        prices = [r for r in client.availability()["resources"] if r.get("model") == MODEL]
        self.assertEqual(len(prices), 1, "one resource prices the model")
        res = prices[0]
        in_price = res["input_cost_per_unit_usd"] if res["input_cost_per_unit_usd"] is not None else res["cost_per_unit_usd"]
        out_price = res["output_cost_per_unit_usd"] if res["output_cost_per_unit_usd"] is not None else res["cost_per_unit_usd"]
        runs = [(1000, 200), (400, 50)]
        costs = []
        for tokens_in, tokens_out in runs:
            done = client.execute(a.echo, {"mode": "echo", "text": text(), "in": tokens_in, "out": tokens_out}, wait_ms=20000)
            self.assertEqual(done["status"], "COMPLETED", done)
            cost = client.cost(done["request_id"])
            self.assertEqual(cost["request_id"], done["request_id"])
            self.assertTrue(cost["final"])
            self.assertEqual(cost["model"], MODEL)
            self.assertEqual(cost["usage"]["tokens"], {"input": tokens_in, "output": tokens_out})
            self.assertTrue(math.isclose(cost["cost_usd"], tokens_in * in_price + tokens_out * out_price, abs_tol=1e-9), cost)
            self.assertGreater(cost["cost_usd"], 0)
            self.assertEqual(cost["cost_usd"], done["cost_usd"])
            costs.append(cost["cost_usd"])
        current = client.current_usage()
        self.assertEqual(current["client_id"], client.client_id)
        self.assertTrue(math.isclose(current["spent_usd"], sum(costs), abs_tol=1e-9), current)
        self.assertEqual(current["held_usd"], 0)
        self.assertTrue(math.isclose(current["remaining_usd"], current["budget_usd"] - sum(costs), abs_tol=1e-9), current)
        history = client.usage(period=current["period"])
        self.assertEqual([p["period"] for p in history["periods"]], [current["period"]])
        rows = [t for t in history["by_template"] if t["template"] == a.echo]
        self.assertEqual(len(rows), 1, history)
        self.assertEqual(rows[0]["requests"], 2)
        self.assertEqual(rows[0]["completed"], 2)
        self.assertEqual(rows[0]["tokens"], {"input": 1400, "output": 250})
        self.assertTrue(math.isclose(history["total_cost_usd"], sum(costs), abs_tol=1e-9))

    def test_estimates(self) -> None:
        a = allot()
        client = a.new_client()
        body = {"mode": "echo", "text": text(200)}
        cost = client.estimate_cost(a.echo, body)
        self.assertEqual(cost["template"], a.echo)
        self.assertEqual(cost["model"], MODEL)
        self.assertEqual(cost["max_tokens"], MAX_TOKENS)
        self.assertGreater(cost["input_tokens"], 200)
        self.assertGreater(cost["max_cost_usd"], 0)
        self.assertTrue(cost["budget"]["fits"])
        lower = client.estimate_cost(a.echo, body, max_tokens=10)
        self.assertEqual(lower["max_tokens"], 10)
        self.assertLess(lower["max_cost_usd"], cost["max_cost_usd"])
        needs = client.estimate_resources(a.echo, body)
        self.assertEqual(needs["template"], a.echo)
        self.assertEqual(needs["estimate"]["input_tokens"], cost["input_tokens"])
        self.assertEqual(needs["estimate"]["max_output_tokens"], MAX_TOKENS)
        self.assertEqual(needs["estimate"]["max_cost_usd"], cost["max_cost_usd"])
        self.assertIsInstance(needs["available"], bool)
        self.assertTrue(needs["resources"], needs)


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.a = allot()
        cls.client = cls.a.new_client()

    def test_unknown_request_is_not_found(self) -> None:
        for call in (self.client.status, self.client.cost, self.client.cancel, self.client.events):
            with self.assertRaises(sdk.NotFound) as caught:
                call("req_does_not_exist")
            e = caught.exception
            self.assertIsInstance(e, sdk.AllotError)
            self.assertEqual((e.code, e.status), ("NOT_FOUND", 404), call)
            self.assertFalse(e.retryable)

    def test_bad_key_is_unauthorized(self) -> None:
        bad = sdk.Client(self.a.url, "ak_not_a_real_key", client_id=self.client.client_id)
        with self.assertRaises(sdk.Unauthorized) as caught:
            bad.current_usage()
        self.assertEqual((caught.exception.code, caught.exception.status), ("UNAUTHORIZED", 401))

    def test_invalid_input_names_the_field(self) -> None:
        with self.assertRaises(sdk.ValidationError) as caught:
            self.client.submit(self.a.echo, {"mode": "echo"}, urgency="whenever")
        self.assertEqual((caught.exception.code, caught.exception.status), ("VALIDATION_ERROR", 400))
        self.assertIn("urgency", caught.exception.message)

    def test_another_clients_usage_is_forbidden(self) -> None:
        other = self.a.new_client()
        with self.assertRaises(sdk.Forbidden) as caught:
            self.client.current_usage(other.client_id)
        self.assertEqual((caught.exception.code, caught.exception.status), ("FORBIDDEN", 403))

    def test_over_budget_is_budget_exceeded(self) -> None:
        poor = self.a.new_client(monthly_budget_usd=0.0001)
        with self.assertRaises(sdk.BudgetExceeded) as caught:
            poor.submit(self.a.echo, {"mode": "echo", "text": text()})
        self.assertEqual((caught.exception.code, caught.exception.status), ("BUDGET_EXCEEDED", 402))
        self.assertFalse(poor.estimate_cost(self.a.echo, {"mode": "echo", "text": text()})["budget"]["fits"])

    def test_unreachable_allot_is_a_connection_error(self) -> None:
        gone = sdk.Client("http://127.0.0.1:9", "ak_x", timeout=2)
        with self.assertRaises(sdk.ConnectionFailed) as caught:
            gone.status("req_x")
        self.assertEqual((caught.exception.code, caught.exception.status), ("CONNECTION_ERROR", 0))


class WorkerAuth(unittest.TestCase):
    def test_a_worker_refuses_allot_with_the_wrong_token(self) -> None:
        a = allot()
        client = a.new_client()
        done = client.execute(a.refused, {"mode": "echo", "text": text()}, wait_ms=20000)
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["error"]["code"], "UNAUTHORIZED", done["error"])
        self.assertNotIn(done["request_id"], SEEN, "the handler never ran")

    def test_allot_detects_the_python_worker_as_direct_http(self) -> None:
        a = allot()
        name = f"{a.worker}-detected"
        made = a.admin("POST", "/admin/workers", {"name": name, "url": a.server.url + "/"})
        self.assertEqual(made["worker"]["transport"], "http")
        self.assertTrue(made["worker"]["transport_detected"])
        a.admin("DELETE", f"/admin/workers/{name}")


if __name__ == "__main__":
    unittest.main()
