"""Domain errors of accounts; the gateway maps them to HTTP answers in one place."""


class AccountError(Exception):
    message = "account error"

    def __str__(self) -> str:
        return self.message


class InsufficientCredits(AccountError):
    message = "Your credit balance is too low for this request. Top up and try again."


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
