from datetime import timedelta
from decimal import Decimal

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from playground import numbers

from .models import LedgerKind, RedeemBatch
from .money import usd_to_micros

MAX_DOLLARS = Decimal("1000000")


class LoginForm(AllauthLoginForm):
    """allauth's log-in form, its first field labelled for what it takes (allauth says
    "Login")."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Username or email"


class DollarsField(numbers.DecimalField):
    """Dollars with at most cents, cleaned to integer micro-dollars."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", MAX_DOLLARS)
        super().__init__(max_digits=9, decimal_places=2, **kwargs)

    def clean(self, value) -> int | None:
        dollars = super().clean(value)
        return None if dollars is None else usd_to_micros(dollars)


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        required=False, choices=[("", "All entries"), *LedgerKind.choices], label="Kind"
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )


class ApiKeyCreateForm(forms.Form):
    EXPIRY_CHOICES = [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days")]

    name = forms.CharField(max_length=100, help_text="To tell your keys apart, e.g. “laptop”.")
    spend_limit = DollarsField(
        required=False,
        min_value=Decimal("0.01"),
        label="Spend limit (USD)",
        help_text="Optional. Requests that would spend more than this get HTTP 402.",
    )
    expires_in = forms.TypedChoiceField(
        required=False,
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        label="Expires",
    )

    def expires_at(self):
        days = self.cleaned_data["expires_in"]
        return timezone.now() + timedelta(days=days) if days else None


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=40,
        label="Code",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class CreditAdjustmentForm(forms.Form):
    """The admin's grant action: dollars to add (or, negative, to take back) and why."""

    amount = DollarsField(
        min_value=-MAX_DOLLARS, label="Amount (USD)", help_text="Negative to take credits back."
    )
    memo = forms.CharField(max_length=200, help_text="Shown to the user in their ledger.")

    def clean_amount(self) -> int:
        if not self.cleaned_data["amount"]:
            raise forms.ValidationError("The amount must not be zero.")
        return self.cleaned_data["amount"]


class RedeemBatchForm(forms.ModelForm):
    """The admin's form for a new batch of codes."""

    amount = DollarsField(min_value=Decimal("0.01"), label="Each code is worth (USD)")
    count = numbers.IntegerField(min_value=1, max_value=10_000, label="Number of codes")

    class Meta:
        model = RedeemBatch
        fields = ["name", "expires_at"]


class AccountDeleteForm(forms.Form):
    """Deleting an account is confirmed by typing its password, or its username (for an account
    that signed up through GitHub or Google and has no password)."""

    confirm = forms.CharField(
        label="Your password or username",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"]
        if not (
            constant_time_compare(typed, self.user.get_username())
            or self.user.check_password(typed)
        ):
            raise forms.ValidationError("That is neither your password nor your username.")
        return typed
