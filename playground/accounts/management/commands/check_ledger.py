from django.core.management.base import BaseCommand, CommandError

from playground.accounts.money import format_usd
from playground.accounts.selectors import accounts_off_ledger, api_keys_off_ledger


class Command(BaseCommand):
    help = (
        "Check that every balance, and what every account owes, equals the sum of its ledger, "
        "and every API key's spend equals what its ledger rows took. Changes nothing; exits "
        "non-zero on any difference."
    )

    def handle(self, *args, **options):
        problems = [
            f"account {account.pk} ({account.user}): balance {format_usd(account.balance_micros)}"
            f", ledger {format_usd(account.ledger_micros)}; owed {format_usd(account.owed_micros)}"
            f", ledger {format_usd(account.ledger_owed_micros)}"
            for account in accounts_off_ledger()
        ] + [
            f"API key {key.pk} ({key.prefix}… of {key.user}): spent {format_usd(key.spent_micros)}"
            f", ledger {format_usd(key.ledger_micros)}"
            for key in api_keys_off_ledger()
        ]
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} difference(s) between balances and the ledger.")
        self.stdout.write("The ledger balances: every balance equals the sum of its entries.")
