"""A Server-Sent Events parser (the WHATWG event-stream format), read line by line from a byte stream."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, List, Optional


class Event:
    """One event: its name (``status``, ``progress``, ``end``), its data parsed as JSON (the raw text when it is not), its id."""

    __slots__ = ("event", "data", "raw", "id")

    def __init__(self, event: str, raw: str, id: Optional[str]) -> None:
        self.event = event
        self.raw = raw
        self.id = id
        try:
            self.data: Any = json.loads(raw)
        except ValueError:
            self.data = raw

    def __repr__(self) -> str:
        return f"Event(event={self.event!r}, data={self.raw[:80]!r})"


def _lines(readline: Callable[[], bytes]) -> Iterator[str]:
    """Lines without their ending; an event stream may end lines with CRLF, LF or CR."""
    while True:
        raw = readline()
        if not raw:
            return
        text = raw.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        # A lone CR is a line ending too.
        for part in text.split("\r"):
            yield part


def parse_events(readline: Callable[[], bytes]) -> Iterator[Event]:
    """Events as they complete (a blank line ends one); comment lines (``:``) are skipped; ends with the stream."""
    name = ""
    data: List[str] = []
    last_id: Optional[str] = None
    for line in _lines(readline):
        if line == "":
            if data:
                yield Event(name or "message", "\n".join(data), last_id)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            last_id = value
        # "retry" and unknown fields are ignored: this reader does not reconnect.
