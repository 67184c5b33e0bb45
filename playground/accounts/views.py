from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .forms import SignUpForm
from .money import format_usd
from .selectors import account_balance_micros
from .services import user_sign_up


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("studio:playground")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        balance = format_usd(account_balance_micros(user_id=user.pk))
        messages.success(request, f"Welcome! Your account starts with {balance} of credits.")
        return redirect("studio:playground")
    return render(request, "accounts/sign_up.html", {"form": form})


@login_required
@require_GET
def balance(request):
    """The header's balance, re-fetched by htmx whenever a page announces `balance-changed`."""
    return render(request, "accounts/partials/balance.html")
