"""Domain errors of accounts; the gateway maps them to HTTP answers in one place."""

from .money import format_usd


class AccountError(Exception):
    message = "account error"

    def __str__(self) -> str:
        return self.message


class AccountBusy(AccountError):
    message = "A job is still running: wait for it to finish (or cancel it), then try again."


class InsufficientCredits(AccountError):
    message = "Your credit balance is too low for this request. Top up and try again."


class CreditsOwed(InsufficientCredits):
    """The account owes what a card refund or dispute took back beyond its balance."""

    def __init__(self, owed_micros: int):
        self.owed_micros = owed_micros

    def __str__(self) -> str:
        return (
            f"Your account owes {format_usd(self.owed_micros)} after a card payment was refunded"
            " or disputed. Top up to settle it before starting new generations."
        )


class SpendLimitReached(AccountError):
    message = "This API key has reached its spend limit."


class InvalidApiKey(AccountError):
    message = "Incorrect API key provided. Create a key on your account's API keys page."


class RedeemFailed(AccountError):
    message = "This code cannot be redeemed."


class RedeemCodeUnknown(RedeemFailed):
    message = "That is not a valid code. Check it and try again."


class RedeemCodeUsed(RedeemFailed):
    message = "This code has already been redeemed."


class RedeemCodeExpired(RedeemFailed):
    message = "This code has expired."


class RefundFailed(AccountError):
    message = "This charge cannot be refunded."


class NothingToRefund(RefundFailed):
    message = "Only charges can be refunded."


class AlreadyRefunded(RefundFailed):
    message = "This generation has already been refunded."
