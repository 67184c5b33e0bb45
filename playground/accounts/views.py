import csv
import itertools
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .charts import usage_report
from .errors import AccountBusy
from .forms import AccountDeleteForm, ApiKeyCreateForm, LedgerFilterForm
from .models import ApiKey, LedgerEntry
from .money import usd_str
from .selectors import (
    account_owed_micros,
    api_key_list,
    credit_history,
    email_address_list,
    generation_ledger,
    ledger_entry_list,
    request_balance_micros,
    starter_credits_offer_micros,
    usage_daily,
    user_session_list,
)
from .services import (
    account_delete,
    api_key_create,
    api_key_revoke,
    user_sessions_end,
    webhook_secret_get,
    webhook_secret_rotate,
)

LEDGER_PAGE_SIZE = 25
LEDGER_CSV_HEADER = [
    "date",
    "kind",
    "amount_usd",
    "owed_change_usd",
    "generation",
    "model",
    "api_key",
    "payment",
    "memo",
]
RECENT_CREDITS = 10
USAGE_DAYS = 30


@login_required
@require_GET
def balance(request):
    """The header's balance, re-fetched by htmx whenever a page announces `balance-changed`."""
    return render(request, "accounts/partials/balance.html")


@login_required
@require_GET
def overview(request):
    """Balance, credits received, and the ledger (filtered and paged; htmx swaps just the table)."""
    form, entries = _ledger_filtered(request)
    page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "accounts/overview.html#ledger", context)
    else:
        context |= {
            "balance_micros": request_balance_micros(request),
            "owed_micros": account_owed_micros(user_id=request.user.pk),
            "credits": credit_history(user_id=request.user.pk)[:RECENT_CREDITS],
            "starter_offer_micros": starter_credits_offer_micros(user_id=request.user.pk),
        }
        response = render(request, "accounts/overview.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def ledger_csv(request):
    """The ledger as the account page filters it, oldest first, as CSV: amounts are exact
    dollars (to the micro-dollar), as the balance counts them."""
    _, entries = _ledger_filtered(request)
    rows = (
        [
            entry.created_at.isoformat(),
            entry.kind,
            usd_str(entry.amount_micros),
            usd_str(entry.owed_micros),
            entry.generation_id or "",
            entry.generation.model.slug if entry.generation else "",
            entry.api_key.name if entry.api_key else "",
            entry.payment.intent_id if entry.payment else "",
            entry.memo,
        ]
        for entry in entries.select_related("payment").order_by("created_at", "pk").iterator()
    )
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in itertools.chain([LEDGER_CSV_HEADER], rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"ledger-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    return response


class _Echo:
    """A file for `csv.writer` that hands each line back instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def _ledger_filtered(request) -> tuple[LedgerFilterForm, QuerySet[LedgerEntry]]:
    """The user's ledger, filtered by the account page's form (ignored where invalid)."""
    form = LedgerFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    kind = filters.get("kind")
    entries = ledger_entry_list(
        user_id=request.user.pk,
        kinds=(kind,) if kind else (),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    return form, entries


@login_required
@require_GET
def generation(request, generation_id):
    """What one generation held, was charged and got back."""
    entries = generation_ledger(user_id=request.user.pk, generation_id=generation_id)
    if not entries:
        raise Http404("No such generation.")
    return render(
        request,
        "accounts/generation.html",
        {"generation": entries[0].generation, "entries": entries},
    )


@login_required
@require_GET
def usage(request):
    today = timezone.localdate()
    since = today - timedelta(days=USAGE_DAYS - 1)
    report = usage_report(
        rows=usage_daily(user_id=request.user.pk, since=since), last_day=today, days=USAGE_DAYS
    )
    return render(request, "accounts/usage.html", {"report": report})


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    """The user's keys, and the secret that signs their webhooks. A new key's full value is
    shown in this one response only; the page is never cached, since the secret is on it."""
    form = ApiKeyCreateForm(request.POST or None)
    created = raw_key = None
    if request.method == "POST" and form.is_valid():
        created, raw_key = api_key_create(
            user=request.user,
            name=form.cleaned_data["name"],
            spend_limit_micros=form.cleaned_data["spend_limit"],
            expires_at=form.expires_at(),
        )
        form = ApiKeyCreateForm()
    context = {
        "form": form,
        "keys": api_key_list(user_id=request.user.pk),
        "created": created,
        "raw_key": raw_key,
        "webhook_secret": webhook_secret_get(user_id=request.user.pk),
    }
    template = "accounts/api_keys.html#keys" if request.htmx else "accounts/api_keys.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    add_never_cache_headers(response)  # no copy of a key or of the secret in any cache
    return response


@login_required
@require_POST
def rotate_webhook_secret(request):
    webhook_secret = webhook_secret_rotate(user_id=request.user.pk)
    messages.success(
        request,
        "Your webhook secret is new. Until "
        f"{dateformat.format(timezone.localtime(webhook_secret.previous_until), 'M j, Y H:i')}, "
        "webhooks are signed with the old one too.",
    )
    return redirect(f"{reverse('accounts:api-keys')}#webhooks")


@login_required
@require_POST
def revoke_api_key(request, key_id: int):
    api_key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    revoked = api_key_revoke(api_key=api_key)
    if not request.htmx:
        if revoked:
            messages.success(request, f"The key “{api_key.name}” is revoked; it no longer works.")
        return redirect("accounts:api-keys")
    api_key.refresh_from_db()
    response = render(request, "accounts/api_keys.html#key-row", {"key": api_key})
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def settings(request):
    return _settings_page(request, AccountDeleteForm(user=request.user))


def _settings_page(request, delete_form: AccountDeleteForm, status: int = 200):
    """Email addresses, password, connected logins, sessions, and deleting the account."""
    context = {
        "emails": email_address_list(user_id=request.user.pk),
        "sessions": user_session_list(user=request.user),
        "delete_form": delete_form,
    }
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_POST
def log_out_everywhere(request):
    """End every session of the user's, this one too (allauth's sessions page ends the others)."""
    user_sessions_end(user=request.user)
    logout(request)
    messages.success(request, "You are logged out on every device and browser.")
    return redirect("account_login")


@login_required
@require_POST
def delete(request):
    form = AccountDeleteForm(request.POST, user=request.user)
    if not form.is_valid():
        return _settings_page(request, form, status=400)
    try:
        account_delete(user=request.user)
    except AccountBusy as exc:
        messages.error(request, str(exc))
        return redirect("accounts:settings")
    logout(request)
    messages.success(request, "Your account is deleted, with your images and personal data.")
    return redirect("home")
