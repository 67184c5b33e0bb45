from decimal import Decimal

from django import forms
from django.conf import settings

from playground import numbers
from playground.accounts.forms import DollarsField
from playground.accounts.money import format_usd, usd_to_micros

OTHER = "other"


def _bounds() -> tuple[Decimal, Decimal]:
    return Decimal(settings.TOPUP_MIN_USD), Decimal(settings.TOPUP_MAX_USD)


def _limits_text() -> str:
    low, high = _bounds()
    return f"Between {format_usd(usd_to_micros(low))} and {format_usd(usd_to_micros(high))}."


class TopUpForm(forms.Form):
    """An amount to pay by card: one of the presets, or another within the site's bounds."""

    amount = forms.ChoiceField(widget=forms.RadioSelect, label="Amount")
    other = numbers.DecimalField(
        required=False,
        max_digits=9,
        decimal_places=2,
        label="Other amount (USD)",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        low, high = _bounds()
        presets = [Decimal(preset) for preset in settings.TOPUP_PRESETS_USD]
        self.fields["amount"].choices = [
            *((str(preset), format_usd(usd_to_micros(preset))) for preset in presets),
            (OTHER, "Other"),
        ]
        self.fields["amount"].initial = str(presets[0]) if presets else OTHER
        self.fields["other"].widget.attrs |= {"min": str(low), "max": str(high)}
        self.fields["other"].help_text = _limits_text()

    def clean(self):
        cleaned = super().clean()
        choice = cleaned.get("amount")
        if choice is None:
            return cleaned
        if choice == OTHER:
            dollars = cleaned.get("other")
            if dollars is None:
                self.add_error("other", "Enter an amount.")
                return cleaned
        else:
            dollars = Decimal(choice)
        low, high = _bounds()
        if not low <= dollars <= high:
            self.add_error("other" if choice == OTHER else "amount", _limits_text())
        cleaned["amount_micros"] = usd_to_micros(dollars)
        return cleaned


class LowBalanceForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Email me when my balance runs low")
    threshold = DollarsField(
        min_value=Decimal("0.01"),
        label="When a charge leaves my balance below (USD)",
        help_text="One email each time; another only after credits bring it back up.",
    )


class AutoTopUpForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Auto top-up on")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        low, high = _bounds()
        self.fields["threshold"] = DollarsField(
            min_value=Decimal(0),
            max_value=high,
            label="When my balance falls below (USD)",
            help_text="Checked after each charge.",
        )
        self.fields["amount"] = DollarsField(
            min_value=low,
            max_value=high,
            label="Add (USD)",
            help_text=f"Paid with the saved card. {_limits_text()}",
        )
