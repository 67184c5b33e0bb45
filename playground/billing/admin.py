from django.contrib import admin

from playground.accounts.admin import ReadOnlyAdmin
from playground.accounts.money import format_usd

from .models import BillingProfile, Payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """Card payments as Stripe reported them; refunds and disputes are made in Stripe's
    dashboard, and its webhook takes the credits back here."""

    list_display = [
        "created_at",
        "account",
        "amount",
        "received",
        "status",
        "automatic",
        "refunded",
        "dispute_id",
        "intent_id",
    ]
    list_filter = ["status", "automatic", "created_at"]
    search_fields = ["account__user__username", "intent_id", "charge_id", "dispute_id"]
    list_select_related = ["account__user"]

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, payment: Payment) -> str:
        return format_usd(payment.amount_micros)

    @admin.display(description="Received", ordering="received_micros")
    def received(self, payment: Payment) -> str:
        return format_usd(payment.received_micros)

    @admin.display(description="Refunded", ordering="refunded_micros")
    def refunded(self, payment: Payment) -> str:
        return format_usd(payment.refunded_micros) if payment.refunded_micros else ""


@admin.register(BillingProfile)
class BillingProfileAdmin(ReadOnlyAdmin):
    list_display = [
        "account",
        "customer_id",
        "card_label",
        "auto_top_up",
        "threshold",
        "amount",
        "low_balance_notice",
        "low_balance_threshold",
    ]
    list_filter = ["auto_top_up", "low_balance_notice"]
    search_fields = ["account__user__username", "customer_id"]
    list_select_related = ["account__user"]

    @admin.display(description="Below", ordering="threshold_micros")
    def threshold(self, profile: BillingProfile) -> str:
        return format_usd(profile.threshold_micros)

    @admin.display(description="Adds", ordering="amount_micros")
    def amount(self, profile: BillingProfile) -> str:
        return format_usd(profile.amount_micros)

    @admin.display(description="Emails below", ordering="low_balance_threshold_micros")
    def low_balance_threshold(self, profile: BillingProfile) -> str:
        return format_usd(profile.low_balance_threshold_micros)
