"""Errors every face renders the same way: ``{"errors": [...]}`` with a status code.

Services raise these. ``as_action_error`` is the one mapping from any exception to what a face
answers: an ``ActionError`` is answered as it is; anything else is logged with its stack and
answered 500 with the request id to quote (``openstoq.http`` renders it for HTTP, the MCP server
as a tool error).
"""

from __future__ import annotations

import logging

log = logging.getLogger("openstoq")


class ActionError(Exception):
    """An error with a status code and one or more human-readable messages."""

    status = 400

    def __init__(self, *messages: str, headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"errors": self.messages}


class BadRequest(ActionError):
    status = 400


class Unauthorized(ActionError):
    status = 401


class Forbidden(ActionError):
    status = 403


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    """The action is not allowed in the object's current state; the message says how to unblock it."""

    status = 409


class MethodNotAllowed(ActionError):
    status = 405


class ValidationFailed(ActionError):
    status = 422


class PayloadTooLarge(ActionError):
    status = 413


class InternalError(ActionError):
    status = 500


class RateLimited(ActionError):
    status = 429

    def __init__(self, retry_after: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        # The published 429 body differs from the usual envelope.
        return {"error": "Rate limit exceeded", "retry_after": self.retry_after, "message": self.messages[0]}


def as_action_error(exc: BaseException, request_id: str, where: str) -> ActionError:
    """What every face answers for ``exc``: itself when it is an ActionError, else a logged 500."""
    if isinstance(exc, ActionError):
        return exc
    log.error("unhandled error in %s (request %s)", where, request_id, exc_info=exc)
    return InternalError(f"Internal error; quote request id {request_id} when reporting it")
