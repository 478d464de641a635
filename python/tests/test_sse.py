"""The event-stream parser, on the byte sequences the format allows."""

from __future__ import annotations

import io
import unittest

from allot.sse import parse_events


def events(raw: bytes):
    return list(parse_events(io.BytesIO(raw).readline))


class EventStream(unittest.TestCase):
    def test_events_with_json_data(self) -> None:
        got = events(b'event: status\ndata: {"status":"PENDING"}\n\nevent: progress\ndata: {"percent":50,"message":"half"}\n\n')
        self.assertEqual([(e.event, e.data) for e in got], [("status", {"status": "PENDING"}), ("progress", {"percent": 50, "message": "half"})])

    def test_comments_crlf_cr_and_multiline_data(self) -> None:
        got = events(b": keep-alive\r\n\r\nevent: end\r\ndata: {\"a\":\r\ndata: 1}\r\nid: 7\r\n\r\ndata:x\rdata: y\r\r")
        self.assertEqual(len(got), 2)
        self.assertEqual((got[0].event, got[0].data, got[0].id), ("end", {"a": 1}, "7"))
        self.assertEqual((got[1].event, got[1].raw, got[1].data), ("message", "x\ny", "x\ny"))

    def test_an_unfinished_event_at_the_end_is_dropped(self) -> None:
        self.assertEqual(events(b"event: status\ndata: {}"), [])

    def test_an_event_without_data_is_not_dispatched(self) -> None:
        self.assertEqual(events(b"event: ping\n\n"), [])


if __name__ == "__main__":
    unittest.main()
