from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from playground.accounts.money import usd_to_micros
from playground.accounts.services import account_open, api_key_create, credits_grant


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME (creating the user if missing, optionally granting "
        "credits). The key is printed alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--credits", help="dollars to grant, e.g. 5 or 2.50")
        parser.add_argument("--name", default="command line", help="a name for the key")

    @transaction.atomic
    def handle(self, *args, username: str, credits: str | None, name: str, **options):
        try:
            grant_micros = usd_to_micros(credits) if credits else 0
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if grant_micros < 0:
            raise CommandError("--credits must not be negative")
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.stdout.write(
                f"Created user {username} (no password; set one with changepassword)."
            )
        account = account_open(user=user)
        if grant_micros:
            credits_grant(
                account=account, amount_micros=grant_micros, memo="Granted by create_api_key"
            )
            self.stdout.write(f"Granted ${credits} to {username}.")
        _, raw_key = api_key_create(user=user, name=name)
        self.stdout.write(raw_key)
