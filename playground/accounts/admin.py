from django.contrib import admin

from .models import Account, ApiKey, LedgerEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services may write: visible to staff, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance_micros", "created_at"]
    search_fields = ["user__username", "user__email"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "kind", "amount_micros", "generation", "memo"]
    list_filter = ["kind"]
    search_fields = ["account__user__username", "memo"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "created_at",
        "last_used_at",
        "revoked_at",
        "spent_micros",
    ]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["key_hash"]
