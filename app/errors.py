"""Domain errors: raised in the middle, rendered once at the edge with their status code."""

from __future__ import annotations

import asyncio
from enum import StrEnum


class Halted(Exception):  # noqa: N818 - a state, not a failure
    """A task stopped early because its worker is stopping (SIGTERM, Ctrl-C): what it stored is
    kept and the job is released, so the next attempt resumes from there."""


class RetryLater(Exception):  # noqa: N818 - a schedule, not a failure
    """A task asks to run again after `delay` seconds (a webhook delivery's retry schedule)."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class Waiting(Exception):  # noqa: N818 - a state, not a failure
    """A task waits on other jobs (a chunked audit on its chunks): the job is handed back
    without spending an attempt and runs again after `delay` seconds, holding no worker slot."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class SurfturfError(Exception):
    """Base of every error the API renders; `field` points at the offending input."""

    status_code = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class NotFound(SurfturfError):
    status_code = 404
    code = "not_found"


class Conflict(SurfturfError):
    status_code = 409
    code = "conflict"


class InvalidInput(SurfturfError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(SurfturfError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SurfturfError):
    status_code = 403
    code = "forbidden"


class EgressDenied(SurfturfError):
    status_code = 422
    code = "egress_denied"


class PayloadTooLarge(SurfturfError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(SurfturfError):
    """This installation cannot do it (an optional part is not installed): said before any work."""

    status_code = 503
    code = "unavailable"


class TargetFailed(SurfturfError):
    """The target could not serve the audit (unreachable, refusing, or erroring too often)."""

    status_code = 502
    code = "target_failed"


class PermanentError(Exception):
    """Raised by a task when retrying cannot help (a row it needs is gone, a file is corrupt)."""


class Failure(StrEnum):
    """What a task's exception means for its job. `failure_of` is the one place that decides."""

    transient = "transient"  # retried with backoff while attempts remain (a target or DB blip)
    permanent = "permanent"  # failed now: the input or this installation is wrong, retrying cannot help
    cancelled = "cancelled"  # stopped on request; the job keeps what it stored


def failure_of(exc: BaseException) -> Failure:
    """SurfturfError is the caller's input or this installation's capability (bad spec, missing
    extra, refused egress), never fixed by waiting; anything else may be."""
    if isinstance(exc, asyncio.CancelledError):
        return Failure.cancelled
    if isinstance(exc, PermanentError | SurfturfError):
        return Failure.permanent
    return Failure.transient
