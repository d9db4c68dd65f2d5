"""The revocation feed on the REST door: newline-delimited JSON, one `{"result": ...}` object
per event as grpc-gateway serves a server stream, and an `{"error": ...}` line if it ends on
an error after it began (before, the error is the usual problem+json answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from authgate import messages
from authgate.core.errors import AuthError, invalid_request
from authgate.core.revocation_feed import FeedEvent

NDJSON = "application/x-ndjson"


async def stream_of(events: AsyncIterator[FeedEvent]) -> StreamingResponse:
    """The response for a feed; its first event is awaited here, so that an error before the
    stream begins is the usual problem+json answer."""
    first = await anext(events)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_lines(first, events), media_type=NDJSON, headers=headers)


async def _lines(first: FeedEvent, events: AsyncIterator[FeedEvent]) -> AsyncIterator[bytes]:
    yield messages.feed_event_line(first)
    try:
        async for event in events:
            yield messages.feed_event_line(event)
    except AuthError as error:
        yield messages.feed_error_line(error)


def seq(text: str) -> int:
    """A cursor from the query (the schema allows 1 to 19 digits; an int64 stops below 2**63)."""
    value = int(text)
    if value >= 2**63:
        raise invalid_request({"afterSeq": ["Must be a 64-bit integer."]})
    return value
