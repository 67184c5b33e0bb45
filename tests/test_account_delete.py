"""Deleting an account: the person's data goes (keys, sessions, email addresses, names, images
and prompts), the books stay (Account, ledger and payments, under an anonymous user)."""

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from playground.accounts.errors import AccountBusy, InvalidApiKey
from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import account_delete, api_key_authenticate, credits_take_back
from playground.billing.models import BillingProfile, Payment
from playground.gateway.models import Generation
from tests import factories
from tests.factories import HTMX, generate, png_upload, run_form

pytestmark = pytest.mark.django_db


def test_deleting_through_the_page_erases_the_person_and_keeps_the_ledger(
    signed_in, user, django_capture_on_commit_callbacks
):
    raw_key = factories.raw_api_key(user=user)
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", images=[png_upload()]),
        headers=HTMX,
    )
    generation = Generation.objects.get(user=user)
    files = [generation.images.get().file.name, *generation.params["inputs"]["images"]]
    assert all(default_storage.exists(name) for name in files)
    SocialAccount.objects.create(user=user, provider="github", uid="42")
    entries = list(
        LedgerEntry.objects.filter(account__user=user).values_list("pk", "amount_micros")
    )
    elsewhere = Client()
    elsewhere.post(reverse("account_login"), {"login": user.email, "password": factories.PASSWORD})
    assert UserSession.objects.filter(user=user).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            reverse("accounts:delete"), {"confirm": user.username}, follow=True
        )

    assert response.redirect_chain[0][0] == reverse("home")
    assert "Your account is deleted" in response.text
    assert response.wsgi_request.user.is_anonymous
    user.refresh_from_db()
    assert user.username == f"deleted-{user.pk}"
    assert (user.email, user.first_name, user.last_name) == ("", "", "")
    assert not user.has_usable_password() and not user.is_active
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not UserSession.objects.filter(user=user).exists()
    assert elsewhere.get(reverse("accounts:balance")).status_code == 302
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw_key=raw_key)
    assert not any(default_storage.exists(name) for name in files)
    generation.refresh_from_db()
    assert (generation.prompt, generation.params, generation.images.count()) == ("", {}, 0)
    assert generation.deleted_at is not None
    kept = LedgerEntry.objects.filter(account__user=user).values_list("pk", "amount_micros")
    assert list(kept) == entries
    factories.assert_ledger_holds()


def test_a_wrong_confirmation_deletes_nothing(signed_in, user):
    response = signed_in.post(reverse("accounts:delete"), {"confirm": "not-me"})

    assert response.status_code == 400
    assert "That is neither your password nor your username." in response.text
    user.refresh_from_db()
    assert user.is_active and user.check_password(factories.PASSWORD)


def test_the_password_confirms_too(signed_in, user):
    response = signed_in.post(reverse("accounts:delete"), {"confirm": factories.PASSWORD})

    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active


def test_a_running_job_stops_the_deletion(signed_in, user, queued_only):
    generate(signed_in)

    response = signed_in.post(reverse("accounts:delete"), {"confirm": user.username}, follow=True)

    assert "A job is still running" in response.text
    user.refresh_from_db()
    assert user.is_active and Generation.objects.get(user=user).prompt


@pytest.mark.django_db(transaction=True)
def test_a_pending_payment_and_a_debt_survive_the_deletion(user):
    account = Account.objects.get(user=user)
    pending = Payment.objects.create(account=account, intent_id="pi_pending", amount_micros=10**7)
    refunded = Payment.objects.create(
        account=account, intent_id="pi_refunded", amount_micros=5 * 10**6, status="succeeded"
    )
    credits_take_back(
        account_id=account.pk,
        amount_micros=3 * 10**6,
        kind=LedgerEntry.Kind.PAYMENT_REFUND,
        payment_id=refunded.pk,
        memo="refund",
    )
    BillingProfile.objects.create(
        account=account,
        customer_id="cus_1",
        payment_method_id="pm_1",
        auto_top_up=True,
        amount_micros=10**7,
    )

    account_delete(user=user)

    account.refresh_from_db()
    assert (account.balance_micros, account.owed_micros) == (0, 2 * 10**6)
    assert set(Payment.objects.filter(account=account)) == {pending, refunded}
    profile = BillingProfile.objects.get(account=account)
    assert (profile.auto_top_up, profile.payment_method_id) == (False, "")
    assert get_user_model().objects.get(pk=user.pk).username == f"deleted-{user.pk}"
    factories.assert_ledger_holds()


def test_deleting_twice_is_harmless(user):
    account_delete(user=user)
    account_delete(user=user)

    assert not get_user_model().objects.get(pk=user.pk).is_active
    factories.assert_ledger_holds()


def test_busy_is_an_error_of_the_service(user, catalog, queued_only):
    generate(factories.signed_in_client(user))

    with pytest.raises(AccountBusy):
        account_delete(user=user)
