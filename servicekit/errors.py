"""Domain errors a service raises; the RPC server turns each into a typed ``ErrorReply``."""

from typing import Any

from contracts.enums import ErrorCode
from contracts.rpc import ErrorReply, FieldError


class DomainError(Exception):
    """A rule said no; ``code`` tells the caller which rule."""

    code: ErrorCode = ErrorCode.CONFLICT

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_reply(self) -> ErrorReply:
        return ErrorReply(code=self.code, detail=self.detail, extra=self.extra)


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Unauthorized(DomainError):
    code = ErrorCode.UNAUTHORIZED


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule; ``loc`` points at the culprit."""

    code = ErrorCode.VALIDATION

    def __init__(self, detail: str, *, loc: list[str | int]) -> None:
        super().__init__(detail)
        self.loc = loc

    def to_reply(self) -> ErrorReply:
        error = FieldError(loc=self.loc, msg=self.detail, type="value_error")
        return ErrorReply(code=self.code, detail=self.detail, errors=[error])


class InvalidCursor(InvalidInput):
    """A page cursor we did not make (or one whose sort key no query can take)."""

    code = ErrorCode.INVALID_CURSOR


class DependencyUnavailable(DomainError):
    """Another service this one needs did not answer."""

    code = ErrorCode.UNAVAILABLE
