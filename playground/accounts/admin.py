import csv

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count
from django.http import HttpResponse
from django.template.response import TemplateResponse

from .codes import redeem_batch_create
from .errors import AccountError
from .forms import CreditAdjustmentForm, RedeemBatchForm
from .models import (
    Account,
    ApiKey,
    LedgerEntry,
    RedeemBatch,
    RedeemCode,
    StarterCredit,
    hash_email,
)
from .money import format_usd
from .services import api_key_revoke, credits_adjust, credits_refund

MONEY_PERMISSION = "accounts.change_account"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services may write: visible to staff, never edited by hand.

    Money moves through actions that call the services; they need `accounts.change_account`.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_money_permission(self, request) -> bool:
        return request.user.has_perm(MONEY_PERMISSION)


class OwesFilter(admin.SimpleListFilter):
    title = "owes"
    parameter_name = "owes"

    def lookups(self, request, model_admin):
        return [("yes", "Owes (card refund or dispute)")]

    def queryset(self, request, queryset):
        return queryset.filter(owed_micros__gt=0) if self.value() == "yes" else queryset


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "owed", "created_at"]
    list_filter = [OwesFilter]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    actions = ["adjust_credits"]

    @admin.display(description="Balance", ordering="balance_micros")
    def balance(self, account: Account) -> str:
        return format_usd(account.balance_micros)

    @admin.display(description="Owed", ordering="owed_micros")
    def owed(self, account: Account) -> str:
        """What a refunded or disputed card payment left owing; the account starts no
        generation until credits pay it (a grant does)."""
        return format_usd(account.owed_micros) if account.owed_micros else "—"

    @admin.action(description="Grant (or take back) credits", permissions=["money"])
    def adjust_credits(self, request, queryset):
        """Asks for an amount and a memo on an intermediate page, then adjusts each account."""
        form = CreditAdjustmentForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "accounts/admin_adjust_credits.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "Grant or take back credits",
                    "accounts": queryset,
                    "form": form,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        amount = form.cleaned_data["amount"]
        for account in queryset.order_by("pk"):
            try:
                credits_adjust(
                    account=account,
                    amount_micros=amount,
                    memo=form.cleaned_data["memo"],
                    created_by=request.user,
                )
            except AccountError as exc:
                self.message_user(request, f"{account}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{account}: adjusted by {format_usd(amount)}.")
        return None


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "generation",
        "api_key",
        "redeem_code",
        "payment",
        "owed",
        "created_by",
        "memo",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = [
        "account__user__username",
        "memo",
        "reference",
        "redeem_code__code",
        "payment__intent_id",
    ]
    list_select_related = [
        "account__user",
        "generation",
        "api_key",
        "redeem_code",
        "payment",
        "created_by",
    ]
    raw_id_fields = ["generation"]
    actions = ["refund"]

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, entry: LedgerEntry) -> str:
        return format_usd(entry.amount_micros)

    @admin.display(description="Owed change", ordering="owed_micros")
    def owed(self, entry: LedgerEntry) -> str:
        return format_usd(entry.owed_micros) if entry.owed_micros else ""

    @admin.action(description="Refund the selected charges", permissions=["money"])
    def refund(self, request, queryset):
        for capture in queryset.order_by("pk"):
            try:
                credits_refund(capture=capture, memo="Refunded by support", created_by=request.user)
            except AccountError as exc:
                self.message_user(request, f"Entry {capture.pk}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Refunded {format_usd(-capture.amount_micros)} to {capture.account}."
                )


@admin.register(StarterCredit)
class StarterCreditAdmin(ReadOnlyAdmin):
    """Which accounts and addresses had the starter credits; search by the address itself."""

    list_display = ["account", "entry", "created_at"]
    search_fields = ["account__user__username", "=email_hash"]
    list_select_related = ["account__user", "entry"]

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(
            request, queryset, hash_email(search_term) if "@" in search_term else search_term
        )


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "spent_micros",
        "spend_limit_micros",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys", permissions=["money"])
    def revoke(self, request, queryset):
        revoked = sum(api_key_revoke(api_key=api_key) for api_key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).")


class RedeemCodeInline(admin.TabularInline):
    model = RedeemCode
    fields = ["code", "redeemed_by", "redeemed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RedeemBatch)
class RedeemBatchAdmin(ReadOnlyAdmin):
    """Staff add a batch (name, worth, count, expiry); the codes are generated, then read-only."""

    form = RedeemBatchForm
    list_display = ["name", "worth", "code_count", "expires_at", "created_by", "created_at"]
    search_fields = ["name", "codes__code"]
    actions = ["download_codes"]

    @admin.display(description="Each worth", ordering="amount_micros")
    def worth(self, batch: RedeemBatch) -> str:
        return format_usd(batch.amount_micros)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(code_total=Count("codes"))

    @admin.display(description="Codes", ordering="code_total")
    def code_count(self, batch: RedeemBatch) -> int:
        return batch.code_total

    def has_add_permission(self, request):
        return self.has_money_permission(request)

    def get_inlines(self, request, obj):
        return [RedeemCodeInline] if obj else []

    def save_form(self, request, form, change):
        """Create the batch and its codes through the service instead of `form.save()`."""
        return redeem_batch_create(
            name=form.cleaned_data["name"],
            amount_micros=form.cleaned_data["amount"],
            count=form.cleaned_data["count"],
            expires_at=form.cleaned_data["expires_at"],
            created_by=request.user,
        )

    def save_model(self, request, obj, form, change):
        """Already saved by `save_form`."""

    def save_related(self, request, form, formsets, change):
        """A batch has no related rows to save from the form."""

    @admin.action(description="Download the codes as CSV", permissions=["money"])
    def download_codes(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="redeem-codes.csv"'
        writer = csv.writer(response)
        writer.writerow(["batch", "code", "usd", "expires_at", "redeemed_at"])
        for code in RedeemCode.objects.filter(batch__in=queryset).select_related("batch"):
            writer.writerow(
                [
                    code.batch.name,
                    code.code,
                    format_usd(code.amount_micros),
                    code.expires_at.isoformat() if code.expires_at else "",
                    code.redeemed_at.isoformat() if code.redeemed_at else "",
                ]
            )
        return response


@admin.register(RedeemCode)
class RedeemCodeAdmin(ReadOnlyAdmin):
    list_display = ["code", "batch", "amount_micros", "expires_at", "redeemed_by", "redeemed_at"]
    list_filter = [("redeemed_at", admin.EmptyFieldListFilter), "batch"]
    search_fields = ["code", "redeemed_by__username", "batch__name"]
    list_select_related = ["batch", "redeemed_by"]
