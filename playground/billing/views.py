import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.csp import build_policy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from playground.accounts.errors import RedeemFailed
from playground.accounts.forms import RedeemForm
from playground.accounts.money import usd_str
from playground.accounts.selectors import (
    credit_history,
    email_primary,
    request_balance_micros,
)
from playground.accounts.services import credits_redeem

from . import services, stripe_api
from .errors import BillingError, EmailNotVerified
from .forms import AutoTopUpForm, LowBalanceForm, TopUpForm
from .models import Payment
from .selectors import billing_profile_of, payment_list

logger = logging.getLogger(__name__)

RECENT_CREDITS = 10
# A pending payment's page asks again this often (Stripe confirms a card in seconds).
PENDING_POLL_SECONDS = 1

# What each webhook event does; any other event is acknowledged and ignored.
EVENT_HANDLERS: dict[str, Callable[[dict], object]] = {
    "payment_intent.succeeded": lambda intent: services.payment_succeeded(intent=intent),
    "payment_intent.payment_failed": lambda intent: services.payment_failed(intent=intent),
    "charge.succeeded": lambda charge: services.charge_succeeded(charge=charge),
    "charge.refunded": lambda charge: services.payment_refunded(charge=charge),
    "charge.dispute.created": lambda dispute: services.payment_disputed(dispute=dispute),
}


def with_stripe_js(view):
    """The page loads Stripe.js when card payments are set up: its Content-Security-Policy
    lets Stripe's script, frames and API in."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if stripe_api.configured():
            policy = stripe_api.content_security_policy(settings.SECURE_CSP)
            response.headers["Content-Security-Policy"] = build_policy(policy)
        return response

    return wrapper


def _card_context(request) -> dict:
    """Whether the page offers card payments, or first asks to verify the email address."""
    primary_email = email_primary(user_id=request.user.pk)
    return {
        "card_payments": stripe_api.configured(),
        "primary_email": primary_email,
        "email_verified": primary_email is not None and primary_email.verified,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "stripe_js_url": settings.STRIPE_JS_URL,
    }


@login_required
@require_http_methods(["GET", "POST"])
@with_stripe_js
def top_up(request):
    """Pay by card (Stripe.js posts to `top_up_start`), or redeem a code: of two tabs sending
    the same code, one gets the credits and one an error."""
    form = RedeemForm(request.POST or None)
    redeemed = None
    if request.method == "POST" and form.is_valid():
        try:
            redeemed = credits_redeem(user=request.user, code=form.cleaned_data["code"])
        except RedeemFailed as exc:
            form.add_error("code", str(exc))
        else:
            form = RedeemForm()
    context = {
        "form": form,
        "redeemed": redeemed,
        "credits": credit_history(user_id=request.user.pk)[:RECENT_CREDITS],
        "card_form": TopUpForm(),
        **_card_context(request),
    }
    template = "billing/top_up.html#redeem" if request.htmx else "billing/top_up.html"
    status = 400 if form.errors and not request.htmx else 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    if redeemed is not None:
        trigger_client_event(response, "balance-changed")
    return response


def for_stripe_js(view):
    """A view answering Stripe.js's page in JSON: 404 while card payments are not set up, 403
    without a verified email, Stripe's own failures as 503, and never cached (its answer holds
    a client secret)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not stripe_api.configured():
            return JsonResponse({"error": "Card payments are not set up on this site."}, status=404)
        try:
            response = view(request, *args, **kwargs)
        except EmailNotVerified as exc:
            return JsonResponse({"error": str(exc)}, status=403)
        except BillingError as exc:
            return JsonResponse({"error": str(exc)}, status=503)
        add_never_cache_headers(response)
        return response

    return wrapper


@login_required
@require_POST
@for_stripe_js
def top_up_start(request):
    """Create the PaymentIntent for the chosen amount; Stripe.js confirms it with the card.
    Answers the client secret and the payment's page, or the form's errors."""
    form = TopUpForm(request.POST)
    if not form.is_valid():
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        return JsonResponse({"error": " ".join(errors)}, status=400)
    payment, client_secret = services.top_up_start(
        user=request.user, amount_micros=form.cleaned_data["amount_micros"]
    )
    return JsonResponse(
        {
            "client_secret": client_secret,
            "payment_url": reverse("billing:payment", args=[payment.pk]),
        }
    )


@login_required
@require_GET
def payment(request, payment_id: int):
    """One payment: pending until Stripe confirms it (the page asks again every second, and
    each time asks Stripe, so it need not wait for the webhook), then the new balance."""
    found = get_object_or_404(Payment, pk=payment_id, account__user=request.user)
    was_pending = found.status == Payment.Status.PENDING
    try:
        found = services.payment_refresh(payment=found)
    except BillingError:
        logger.warning("payment %s: Stripe did not answer; the webhook will tell", found.pk)
    context = {
        "payment": found,
        "balance_micros": request_balance_micros(request),
        "poll_seconds": PENDING_POLL_SECONDS,
    }
    if request.htmx:
        response = render(request, "billing/payment.html#status", context)
        if was_pending and found.status != Payment.Status.PENDING:
            trigger_client_event(response, "balance-changed")
    else:
        response = render(request, "billing/payment.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def payments(request):
    """Every card payment of the user, with what was refunded or disputed of it."""
    return render(
        request,
        "billing/payments.html",
        {"payments": payment_list(user_id=request.user.pk), **_card_context(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@with_stripe_js
def auto_top_up(request):
    """The saved card and the auto top-up settings."""
    profile = billing_profile_of(user_id=request.user.pk)
    initial = (
        {
            "enabled": profile.auto_top_up,
            "threshold": usd_str(profile.threshold_micros),
            "amount": usd_str(profile.amount_micros),
        }
        if profile and profile.amount_micros
        else {"threshold": settings.TOPUP_MIN_USD, "amount": settings.TOPUP_PRESETS_USD[0]}
    )
    form = AutoTopUpForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.auto_top_up_configure(
                user_id=request.user.pk,
                enabled=form.cleaned_data["enabled"],
                threshold_micros=form.cleaned_data["threshold"],
                amount_micros=form.cleaned_data["amount"],
            )
        except BillingError as exc:
            form.add_error(None, str(exc))
        else:
            state = "on" if form.cleaned_data["enabled"] else "off"
            messages.success(request, f"Auto top-up is {state}.")
            return redirect("billing:auto-top-up")
    status = 400 if form.errors else 200
    context = {"form": form, "profile": profile, **_card_context(request)}
    return render(request, "billing/auto_top_up.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def low_balance(request):
    """The low-balance notice: an email when a charge leaves the balance below a threshold."""
    profile = billing_profile_of(user_id=request.user.pk)
    initial = (
        {
            "enabled": profile.low_balance_notice,
            "threshold": usd_str(profile.low_balance_threshold_micros),
        }
        if profile and profile.low_balance_threshold_micros
        else {"threshold": settings.TOPUP_MIN_USD}
    )
    form = LowBalanceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.low_balance_configure(
            user=request.user,
            enabled=form.cleaned_data["enabled"],
            threshold_micros=form.cleaned_data["threshold"],
        )
        state = "on" if form.cleaned_data["enabled"] else "off"
        messages.success(request, f"The low-balance email is {state}.")
        return redirect("billing:low-balance")
    status = 400 if form.errors else 200
    return render(request, "billing/low_balance.html", {"form": form}, status=status)


@login_required
@require_POST
@for_stripe_js
def card_setup_start(request):
    """A SetupIntent's client secret, for Stripe.js to save a card with."""
    return JsonResponse({"client_secret": services.card_setup_start(user=request.user)})


@login_required
@require_POST
def card_setup_finish(request):
    """Stripe.js saved a card: keep it (Stripe is asked; the browser's word is not taken)."""
    try:
        services.card_setup_finish(
            user=request.user, setup_intent_id=request.POST.get("setup_intent", "")
        )
    except BillingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Card saved. Auto top-up can pay with it.")
    return redirect("billing:auto-top-up")


@login_required
@require_POST
def notice_dismiss(request):
    """Hide the notice of a failed auto top-up; back to the page it was read on."""
    services.notice_dismiss(user_id=request.user.pk)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("billing:auto-top-up")
    return redirect(back)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's events, each proven by its `Stripe-Signature`. Anything unsigned, wrongly
    signed or older than the library's tolerance is a 400 and changes nothing. An event that
    fails here for our own reasons answers 500, so Stripe delivers it again."""
    try:
        event = stripe_api.webhook_event(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except (ValueError, stripe_api.SignatureVerificationError) as exc:
        return HttpResponse(f"Refused: {exc}", status=400, content_type="text/plain")
    handler = EVENT_HANDLERS.get(event.type)
    if handler is not None:
        handler(event.data.object.to_dict())
    return HttpResponse("ok", content_type="text/plain")
