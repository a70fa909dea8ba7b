"""``read_body``: every ASGI body tokenward reads (management API, leak reports, web forms)
is bounded, and a declared length over the bound is refused before anything is read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tokenward.asgi_io import BodyTooLargeError, read_body


def _receiver(*chunks: bytes) -> tuple[Any, list[int]]:
    calls = [0]

    async def receive() -> dict[str, Any]:
        index = calls[0]
        calls[0] += 1
        return {"type": "http.request", "body": chunks[index], "more_body": index + 1 < len(chunks)}

    return receive, calls


def _scope(length: bytes | None) -> dict[str, Any]:
    headers = [(b"host", b"x")] + ([] if length is None else [(b"content-length", length)])
    return {"type": "http", "headers": headers}


def test_a_declared_length_over_the_limit_is_refused_before_any_read() -> None:
    receive, calls = _receiver(b"x" * 5)
    with pytest.raises(BodyTooLargeError):
        asyncio.run(read_body(receive, 10, _scope(b"11")))
    assert calls == [0]


@pytest.mark.parametrize("length", [None, b"10", b"", b"nonsense", b"-1"])
def test_a_body_within_the_limit_is_read_whatever_the_header_says(length: bytes | None) -> None:
    receive, calls = _receiver(b"hello", b"world")
    assert asyncio.run(read_body(receive, 10, _scope(length))) == b"helloworld"
    assert calls == [2]


@pytest.mark.parametrize("length", [None, b"3", b"nonsense"])
def test_a_body_that_runs_over_is_refused_whatever_the_header_claimed(
    length: bytes | None,
) -> None:
    receive, _ = _receiver(b"hello", b"world!")
    with pytest.raises(BodyTooLargeError):
        asyncio.run(read_body(receive, 10, _scope(length)))
