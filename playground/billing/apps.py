from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Card payments through Stripe: top-ups, their refunds and disputes, auto top-up."""

    name = "playground.billing"
    label = "billing"
