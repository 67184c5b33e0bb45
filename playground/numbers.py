"""Numbers read from text a caller typed: ASCII digits only.

Python's `int()`, `float()` and `Decimal()` read any Unicode decimal digit (Arabic-Indic
"\u0663", fullwidth "\uff13" and mathematical "\U0001d7db" are all 3), underscores between
digits and surrounding whitespace, and Django's number fields inherit that. The API and the
pages read numbers through here instead, so that a number means what it looks like to
everyone who reads it after us: logs, providers, the database.
"""

import math
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_int(text: str) -> int:
    """`text` as an integer: an optional sign, then ASCII digits; else `ValueError`."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"not an integer in ASCII digits: {text!r}")
    return int(text)


def parse_float(text: str) -> float:
    """`text` as a finite number written with ASCII digits ("2", "-0.5", "1e3"); else
    `ValueError`."""
    if not _NUMBER.fullmatch(text) or not math.isfinite(number := float(text)):
        raise ValueError(f"not a number in ASCII digits: {text!r}")
    return number


def parse_decimal(text: str) -> Decimal:
    """`text` as an exact decimal, written as `parse_float` takes it; else `ValueError`."""
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a number in ASCII digits: {text!r}")
    return Decimal(text)


class _AsciiNumber:
    """A Django number field that reads its value with `parse` (surrounding spaces, which
    browsers and people add, are trimmed first)."""

    parse = staticmethod(parse_int)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, str):  # initial data, already a number
            return super().to_python(value)
        try:
            return self.parse(value.strip())
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class IntegerField(_AsciiNumber, forms.IntegerField):
    pass


class FloatField(_AsciiNumber, forms.FloatField):
    parse = staticmethod(parse_float)


class DecimalField(_AsciiNumber, forms.DecimalField):
    parse = staticmethod(parse_decimal)
