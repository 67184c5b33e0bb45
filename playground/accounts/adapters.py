"""django-allauth's hooks into this site: a new user, by form or by GitHub/Google, gets an
empty account through `account_open`, in the transaction that saves them; a verified email
brings the starter credits (`starter_credits_grant`), at sign-up when GitHub or Google
verified it, else when the user follows the link of the verification mail."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.db import transaction

from .money import format_usd
from .selectors import starter_credits_micros
from .services import account_open, starter_credits_grant


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        """Mails name the site by SITE_NAME (allauth's own default is the request's host), and
        may be sent without a request: they get the starter credits here too."""
        super().send_mail(
            template_prefix,
            email,
            {
                "site_name": settings.SITE_NAME,
                "starter_credits_micros": starter_credits_micros(),
                **context,
            },
        )

    @transaction.atomic
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            account_open(user=user)
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    @transaction.atomic
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        if form is None:  # with a form, AccountAdapter.save_user opened the account
            account_open(user=user)
        return user


def welcome(request, user, **kwargs) -> None:
    """allauth's `user_signed_up`, once the new user and their addresses are saved: the
    starter credits for an address GitHub or Google verified, else how to get them."""
    verified = EmailAddress.objects.filter(user=user, verified=True).order_by("-primary").first()
    entry = verified and starter_credits_grant(email_address=verified)
    if entry:
        messages.success(
            request,
            f"Welcome! Your account starts with {format_usd(entry.amount_micros)} of starter "
            "credits.",
        )
    elif not verified and (amount_micros := starter_credits_micros()):
        messages.success(
            request,
            f"Welcome! Verify your email to get {format_usd(amount_micros)} of starter credits: "
            "follow the link in the mail we sent you.",
        )


def starter_credits_on_verification(request, email_address, **kwargs) -> None:
    """allauth's `email_confirmed` (the link of the verification mail, or staff's "mark as
    verified"): the starter credits, if the address and the account never had them."""
    entry = starter_credits_grant(email_address=email_address)
    if entry and request is not None:
        messages.success(
            request,
            f"{format_usd(entry.amount_micros)} of starter credits added for verifying "
            f"{email_address.email}.",
        )
