"""The errors a caller is told about, and the one mapping of every layer's errors to them.

Each layer has one base class: `GatewayError` here (an HTTP status and OpenAI's error type and
code), `AccountError` (accounts), `RateLimitExceeded` (the rate limiter) and `ProviderError`
(providers). A provider's errors, corrupt images and refused fetches never reach a caller as
they are: the runner and the input checks turn them into a `GatewayError`. `as_gateway_error`
turns the others into one, and from that the API answers OpenAI's envelope (`error_response`)
and the pages show `message` next to the field `param` names.
"""

from django.conf import settings
from django.db import OperationalError
from django.http import JsonResponse

from playground.accounts.errors import (
    AccountError,
    CreditsOwed,
    InsufficientCredits,
    InvalidApiKey,
    SpendLimitReached,
)
from playground.ratelimit import RateLimitExceeded, with_retry_after

PROVIDER_REJECTED = "provider_rejected"
FLAGGED = "moderation_blocked"  # OpenAI's code when its safety system refuses
CANCELLED = "generation_cancelled"  # the code a generation its user stopped ends with
DATABASE_UNAVAILABLE = (
    "The service is briefly unavailable; retry shortly. A retry with the same Idempotency-Key "
    "is charged at most once."
)
DATABASE_RETRY_AFTER_SECONDS = 2


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None
    retry_after: int | None = None  # seconds, for the Retry-After header
    should_retry: bool | None = None  # for the x-should-retry header the OpenAI SDKs obey

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after

    def envelope(self) -> dict:
        """OpenAI's error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_value"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PaymentRequired(GatewayError):
    status = 402
    type = "insufficient_quota"
    code = "insufficient_credits"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    """A method the path does not take; its answer's Allow header lists those it does."""

    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"

    def __init__(self, method: str, *, allowed: tuple[str, ...]):
        super().__init__(f"{method} is not allowed here; use {', '.join(allowed)}.")
        self.allowed = allowed


class IdempotencyMismatch(GatewayError):
    status = 422
    type = "invalid_request_error"
    code = "idempotency_key_reused"


class GenerationCancelled(GatewayError):
    """The generation the call waited for was stopped by its user (from the playground). A
    status and a header the SDKs do not retry on: a retry would run, and charge, it again."""

    status = 422
    type = "invalid_request_error"
    code = CANCELLED
    should_retry = False


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RequestTooLarge(PayloadTooLarge):
    """A request body over `settings.MAX_BODY_BYTES`."""

    def __init__(self):
        super().__init__(f"The request is larger than {settings.MAX_BODY_BYTES:,} bytes.")


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamFailed(GatewayError):
    status = 502
    type = "upstream_error"
    code = "provider_failed"


class ServiceUnavailable(GatewayError):
    """The database could not be reached or stayed locked: a 503 the SDKs retry."""

    status = 503
    type = "server_error"
    code = "service_unavailable"


class NoProvider(GatewayError):
    status = 503
    type = "upstream_error"
    code = "no_provider"


# Errors of the other layers that a caller is told about (anything else is a bug: Django's
# exception handling logs it and answers 500, in the envelope under the API).
CALLER_ERRORS = (GatewayError, AccountError, RateLimitExceeded, OperationalError)
_ACCOUNT_ERRORS: dict[type[AccountError], tuple[type[GatewayError], str | None]] = {
    InvalidApiKey: (AuthenticationFailed, None),
    CreditsOwed: (PaymentRequired, "credits_owed"),
    InsufficientCredits: (PaymentRequired, None),
    SpendLimitReached: (PaymentRequired, "spend_limit_reached"),
}


def as_gateway_error(exc: Exception) -> GatewayError:
    """The error to tell the caller for one of `CALLER_ERRORS`."""
    match exc:
        case GatewayError():
            return exc
        case RateLimitExceeded():
            return RateLimited(str(exc), retry_after=exc.retry_after)
        case OperationalError():  # the database is down, locked or restarting
            return ServiceUnavailable(
                DATABASE_UNAVAILABLE, retry_after=DATABASE_RETRY_AFTER_SECONDS
            )
        case AccountError():
            for account_error, (error_class, code) in _ACCOUNT_ERRORS.items():
                if isinstance(exc, account_error):
                    return error_class(str(exc), code=code)
            return InvalidRequest(str(exc))
    raise TypeError(f"not an error for the caller: {exc!r}")


def generation_error(*, code: str, message: str, param: str = "") -> GatewayError:
    """The error to answer for a generation that ended without images, as it was recorded:
    the providers' refusal of the input is the caller's to mend, a cancel its user's, the rest
    is upstream's."""
    if code == CANCELLED:
        return GenerationCancelled(
            "The generation was cancelled by its owner before it finished; nothing was charged."
        )
    if code in (PROVIDER_REJECTED, FLAGGED):
        return InvalidRequest(message, code=code, param=param or None)
    return UpstreamFailed(message)


def error_response(exc: Exception) -> JsonResponse:
    """OpenAI's envelope for one of `CALLER_ERRORS`."""
    error = as_gateway_error(exc)
    response = JsonResponse(error.envelope(), status=error.status)
    if isinstance(error, MethodNotAllowed):
        response["Allow"] = ", ".join(error.allowed)
    if error.should_retry is not None:
        response["x-should-retry"] = str(error.should_retry).lower()
    return with_retry_after(response, error.retry_after)
