"""Errors every face renders the same way: ``{"errors": [...]}`` with a status code.

Services raise these; the HTTP edge turns them into responses and the MCP edge into tool errors.
"""

from __future__ import annotations


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


class ValidationFailed(ActionError):
    status = 422


class RateLimited(ActionError):
    status = 429

    def __init__(self, retry_after: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        # The published 429 body differs from the usual envelope.
        return {"error": "Rate limit exceeded", "retry_after": self.retry_after, "message": self.messages[0]}
