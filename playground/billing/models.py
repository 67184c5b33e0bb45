from django.db import models
from django.db.models import Q


class Payment(models.Model):
    """One card payment: a Stripe PaymentIntent for an account, and what became of it.

    Stripe's figures (cents) are kept as micro-dollars. `refunded_micros` and `dispute_id`
    record what has been taken back already, so a refund or dispute delivered again takes
    nothing more.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="payments"
    )
    intent_id = models.CharField(max_length=255, unique=True)
    amount_micros = models.BigIntegerField(help_text="What was asked.")
    received_micros = models.BigIntegerField(default=0, help_text="What Stripe received.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    automatic = models.BooleanField(default=False, help_text="Made by auto top-up.")
    charge_id = models.CharField(max_length=255, blank=True)
    receipt_url = models.URLField(max_length=500, blank=True)
    refunded_micros = models.BigIntegerField(default=0)
    dispute_id = models.CharField(max_length=255, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0, received_micros__gte=0, refunded_micros__gte=0),
                name="payment_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.intent_id


class BillingProfile(models.Model):
    """An account's Stripe customer, its saved card, its auto top-up and its low-balance notice.

    Auto top-up is armed while it may fire: the first charge that leaves the balance below
    `threshold_micros` disarms it (one conditional update, so one of many concurrent charges
    wins) and pays `amount_micros` off-session; a granted payment arms it again. `crossings`
    counts the firings and keys each off-session payment, so a retried task pays once.

    The low-balance notice crosses its own threshold the same way, in the same update
    (`thresholds.py`), and emails once; any credit that brings the balance back to its
    threshold arms it again. A profile made for the notice alone has no Stripe customer yet.
    """

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, related_name="billing"
    )
    customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    payment_method_id = models.CharField(max_length=255, blank=True)
    card_label = models.CharField(max_length=100, blank=True)
    auto_top_up = models.BooleanField(default=False)
    threshold_micros = models.BigIntegerField(default=0)
    amount_micros = models.BigIntegerField(default=0)
    armed = models.BooleanField(default=True)
    crossings = models.PositiveIntegerField(default=0)
    notice = models.CharField(
        max_length=500, blank=True, help_text="Told to the user on the pages they open next."
    )
    low_balance_notice = models.BooleanField(default=False)
    low_balance_threshold_micros = models.BigIntegerField(default=0)
    low_balance_armed = models.BooleanField(default=True)
    # What the last check after a charge fired: SQL's RETURNING sees only the values it wrote.
    fired_auto_top_up = models.BooleanField(default=False, editable=False)
    fired_low_balance = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_top_up=False)
                | Q(threshold_micros__gte=0, amount_micros__gt=0) & ~Q(payment_method_id=""),
                name="billing_auto_top_up_complete",
            ),
            models.CheckConstraint(
                condition=Q(low_balance_notice=False) | Q(low_balance_threshold_micros__gt=0),
                name="billing_low_balance_threshold_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"billing of {self.account}"
