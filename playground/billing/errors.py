"""Errors of card payments, told to the user as they are."""

from playground.accounts.errors import AccountError


class BillingError(AccountError):
    message = "Card payments failed."


class PaymentsUnavailable(BillingError):
    message = "Card payments are unavailable right now. Try again in a few minutes."


class EmailNotVerified(BillingError):
    message = "Verify your email address before paying by card: receipts and account mail go there."


class CardSetupFailed(BillingError):
    message = "The card could not be saved. Try again."

    def __init__(self, message: str = ""):
        if message:
            self.message = message
