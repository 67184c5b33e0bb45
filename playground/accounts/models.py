import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Account(models.Model):
    """A user's credit balance. It moves only with a `LedgerEntry` in the same transaction."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account"
    )
    balance_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_micros__gte=0), name="account_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"account of {self.user}"


class LedgerKind(models.TextChoices):
    GRANT = "grant", "Grant"
    REDEEM = "redeem", "Redeemed code"
    HOLD = "hold", "Hold"
    CAPTURE = "capture", "Charge"
    RELEASE = "release", "Release"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Admin adjustment"


class LedgerEntry(models.Model):
    """One append-only change of a balance; an account's balance is the sum of its entries."""

    Kind = LedgerKind

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_micros = models.BigIntegerField()
    generation = models.ForeignKey(
        "gateway.Generation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=LedgerKind.values),
                name="ledger_entry_kind_valid",
            ),
            # A generation holds, captures and releases at most once each.
            models.UniqueConstraint(
                fields=["generation", "kind"],
                condition=Q(generation__isnull=False),
                name="ledger_entry_once_per_generation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros} on {self.account_id}"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A user's key for `/v1/`. Only its hash and a display prefix are stored."""

    PREFIX_LENGTH = 12

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    spend_limit_micros = models.BigIntegerField(null=True, blank=True)
    spent_micros = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_limit_micros__isnull=True)
                | Q(spent_micros__lte=models.F("spend_limit_micros")),
                name="api_key_within_spend_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
