"""The gateway's errors and the one function that turns any error into OpenAI's envelope."""

from django.http import JsonResponse

from playground.accounts.errors import (
    AccountError,
    InsufficientCredits,
    InvalidApiKey,
    SpendLimitReached,
)


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


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
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class IdempotencyMismatch(GatewayError):
    status = 422
    type = "invalid_request_error"
    code = "idempotency_key_reused"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


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


_ACCOUNT_ERRORS: dict[type[AccountError], tuple[type[GatewayError], str | None]] = {
    InvalidApiKey: (AuthenticationFailed, None),
    InsufficientCredits: (PaymentRequired, None),
    SpendLimitReached: (PaymentRequired, "spend_limit_reached"),
}


def as_gateway_error(exc: AccountError) -> GatewayError:
    for account_error, (error_class, code) in _ACCOUNT_ERRORS.items():
        if isinstance(exc, account_error):
            return error_class(str(exc), code=code)
    return InvalidRequest(str(exc))


def error_response(error: GatewayError) -> JsonResponse:
    body = {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }
    response = JsonResponse(body, status=error.status)
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response
