import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Account(models.Model):
    """A user's credit balance. It moves only with a `LedgerEntry` in the same transaction.

    `owed_micros` is what a card refund or dispute took back beyond the balance: the balance
    stops at zero and the rest is owed. Credits that come in pay it first, and an account that
    owes starts no generation. It too moves only with a ledger row (`LedgerEntry.owed_micros`).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account"
    )
    balance_micros = models.BigIntegerField(default=0)
    owed_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_micros__gte=0), name="account_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(owed_micros__gte=0), name="account_owed_not_negative"
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
    PAYMENT = "payment", "Card payment"
    PAYMENT_REFUND = "payment_refund", "Card payment refunded"
    DISPUTE = "dispute", "Card payment disputed"
    OWED_PAID = "owed_paid", "Owed amount paid"


# Kinds by what caused them; the constraints below keep each row's links and sign consistent.
GENERATION_KINDS = (LedgerKind.HOLD, LedgerKind.CAPTURE, LedgerKind.RELEASE, LedgerKind.REFUND)
# A card payment's rows; a refund or dispute takes back what the balance has, the rest is owed.
PAYMENT_KINDS = (LedgerKind.PAYMENT, LedgerKind.PAYMENT_REFUND, LedgerKind.DISPUTE)
TAKEN_BACK_KINDS = (LedgerKind.PAYMENT_REFUND, LedgerKind.DISPUTE)
CREDIT_KINDS = (
    LedgerKind.GRANT,
    LedgerKind.REDEEM,
    LedgerKind.ADJUSTMENT,
    LedgerKind.REFUND,
    LedgerKind.PAYMENT,
)


class LedgerEntry(models.Model):
    """One append-only change of a balance; an account's balance is the sum of its entries.

    A generation writes a hold (minus the worst case) when it starts, then a release (plus the
    whole hold) and, if it produced anything, a capture (minus its cost). Entries of a generation
    paid with an API key name the key, so the key's spend is the ledger's too.

    A card payment adds what Stripe received, once; its refunds and dispute take back what the
    balance has and add the rest to what is owed (`owed_micros`), which the next credits pay
    (an `owed_paid` row takes from the balance and the debt alike). An account's debt is the
    sum of its rows' `owed_micros`.
    """

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
    api_key = models.ForeignKey(
        "ApiKey",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    redeem_code = models.ForeignKey(
        "RedeemCode",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    owed_micros = models.BigIntegerField(
        default=0, help_text="How much this row added to (or paid off) what the account owes."
    )
    # A caller's own name for a grant (an invoice number, say), so repeating it grants once.
    reference = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member behind a grant, adjustment or refund.",
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
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        LedgerKind.GRANT,
                        LedgerKind.REDEEM,
                        LedgerKind.REFUND,
                        LedgerKind.PAYMENT,
                    ],
                    amount_micros__gt=0,
                    owed_micros=0,
                )
                | Q(kind=LedgerKind.RELEASE, amount_micros__gte=0, owed_micros=0)
                | Q(
                    kind__in=[LedgerKind.HOLD, LedgerKind.CAPTURE],
                    amount_micros__lte=0,
                    owed_micros=0,
                )
                | (Q(kind=LedgerKind.ADJUSTMENT, owed_micros=0) & ~Q(amount_micros=0))
                | (
                    Q(kind__in=TAKEN_BACK_KINDS, amount_micros__lte=0, owed_micros__gte=0)
                    & ~Q(amount_micros=0, owed_micros=0)
                )
                | Q(
                    kind=LedgerKind.OWED_PAID,
                    amount_micros__lt=0,
                    owed_micros=models.F("amount_micros"),
                ),
                name="ledger_entry_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=GENERATION_KINDS,
                    generation__isnull=False,
                    redeem_code__isnull=True,
                    payment__isnull=True,
                )
                | Q(
                    kind=LedgerKind.REDEEM,
                    generation__isnull=True,
                    redeem_code__isnull=False,
                    api_key__isnull=True,
                    payment__isnull=True,
                )
                | Q(
                    kind__in=PAYMENT_KINDS,
                    generation__isnull=True,
                    redeem_code__isnull=True,
                    api_key__isnull=True,
                    payment__isnull=False,
                )
                | Q(
                    kind__in=[LedgerKind.GRANT, LedgerKind.ADJUSTMENT, LedgerKind.OWED_PAID],
                    generation__isnull=True,
                    redeem_code__isnull=True,
                    api_key__isnull=True,
                    payment__isnull=True,
                ),
                name="ledger_entry_links_match_kind",
            ),
            # A generation holds, captures, releases and is refunded at most once each.
            models.UniqueConstraint(
                fields=["generation", "kind"],
                condition=Q(generation__isnull=False),
                name="ledger_entry_once_per_generation",
            ),
            # A payment is granted once, whichever of its webhook and the browser comes first.
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(kind=LedgerKind.PAYMENT),
                name="ledger_entry_once_per_payment",
            ),
            models.UniqueConstraint(
                fields=["redeem_code"],
                condition=Q(redeem_code__isnull=False),
                name="ledger_entry_once_per_code",
            ),
            models.UniqueConstraint(
                fields=["reference"],
                condition=Q(reference__isnull=False),
                name="ledger_entry_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros} on {self.account_id}"

    @property
    def worth_change_micros(self) -> int:
        """What the row changed of the balance less the debt: a refund's whole amount, even
        when part of it is owed."""
        return self.amount_micros - self.owed_micros


def hash_email(email: str) -> str:
    """What a starter grant remembers of an email address: the SHA-256 of it, compared
    case-insensitively, so the grant outlives the address erased with its account."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class StarterCredit(models.Model):
    """The starter credits given for verifying an email address: once per address, whichever
    account verifies it (one deleted since too), and once per account.

    `email_hash` is empty for the grants made at sign-up before verifying was required.
    """

    email_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="starter_credit")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"starter credits of {self.account}"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A user's key for `/v1/`. Only its hash and a display prefix are stored.

    `spent_micros` counts what the key holds and has been charged, so a spend limit is enforced
    by the same conditional update as the balance.
    """

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
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class RedeemBatch(models.Model):
    """A batch of single-use codes that staff made in the admin, all worth the same."""

    name = models.CharField(max_length=100)
    amount_micros = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "redeem batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0), name="redeem_batch_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RedeemCode(models.Model):
    """One single-use code. Redeeming it is one conditional UPDATE, so only one caller wins."""

    batch = models.ForeignKey(RedeemBatch, on_delete=models.PROTECT, related_name="codes")
    code = models.CharField(max_length=32, unique=True)
    amount_micros = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redeemed_codes",
    )
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0), name="redeem_code_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(redeemed_by__isnull=True, redeemed_at__isnull=True)
                | Q(redeemed_by__isnull=False, redeemed_at__isnull=False),
                name="redeem_code_redeemed_by_and_at_together",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class WebhookSecret(models.Model):
    """The key that signs a user's webhooks (Standard Webhooks: `whsec_` and base64 of 32
    random bytes). Stored as it is, since signing needs it; never logged.

    After a rotation the previous secret signs too, for `GRACE`, so that a receiver can switch
    over without missing a webhook: each delivery then carries both signatures.
    """

    PREFIX = "whsec_"
    GRACE = timedelta(hours=24)

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    secret = models.CharField(max_length=60)
    previous_secret = models.CharField(max_length=60, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook secret of {self.user}"

    @property
    def is_previous_signing(self) -> bool:
        return bool(self.previous_secret) and timezone.now() < self.previous_until

    @property
    def previous_until(self) -> datetime | None:
        return self.rotated_at + self.GRACE if self.rotated_at else None

    @property
    def signing_secrets(self) -> list[str]:
        """The secrets each webhook is signed with now: the current one first."""
        return [self.secret, *([self.previous_secret] if self.is_previous_signing else [])]
