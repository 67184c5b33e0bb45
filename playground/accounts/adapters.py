"""django-allauth's hooks into this site: a new user, by form or by GitHub/Google, gets an
account with the starter credits through `account_open`, in the transaction that saves them."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.db import transaction

from .money import format_usd
from .services import account_open


def _open(request, user) -> None:
    account = account_open(user=user)
    messages.success(
        request,
        f"Welcome! Your account starts with {format_usd(account.balance_micros)} of credits.",
    )


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        """Mails name the site by SITE_NAME (allauth's own default is the request's host)."""
        super().send_mail(template_prefix, email, {"site_name": settings.SITE_NAME, **context})

    @transaction.atomic
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            _open(request, user)
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    @transaction.atomic
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        if form is None:  # with a form, AccountAdapter.save_user opened the account
            _open(request, user)
        return user
