from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from playground.accounts.money import format_usd, usd_to_micros
from playground.accounts.selectors import account_balance_micros, ledger_entry_by_reference
from playground.accounts.services import account_open, credits_grant


class Command(BaseCommand):
    help = (
        "Grant DOLLARS of credits to USERNAME as a ledger row. With --reference (an invoice "
        "number, say) running it again grants nothing more."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("dollars", help="e.g. 5 or 2.50")
        parser.add_argument("--memo", default="Granted by an operator", help="shown to the user")
        parser.add_argument("--reference", help="a unique name for this grant, to make it once")
        parser.add_argument("--dry-run", action="store_true", help="say what would happen only")

    def handle(self, *args, username, dollars, memo, reference, dry_run, **options):
        try:
            amount_micros = usd_to_micros(dollars)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if amount_micros <= 0:
            raise CommandError("DOLLARS must be positive.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if reference and (existing := ledger_entry_by_reference(reference=reference)):
            if existing.account.user_id != user.pk or existing.amount_micros != amount_micros:
                raise CommandError(
                    f"The reference {reference!r} was used for another grant: "
                    f"{format_usd(existing.amount_micros)} to {existing.account.user}."
                )
            self.stdout.write(
                f"Already granted {format_usd(amount_micros)} to {username} as {reference!r}."
            )
            return
        amount = format_usd(amount_micros)
        if dry_run:
            self.stdout.write(f"Would grant {amount} to {username} (dry run, nothing changed).")
            return
        credits_grant(
            account=account_open(user=user),
            amount_micros=amount_micros,
            memo=memo,
            reference=reference,
        )
        balance = format_usd(account_balance_micros(user_id=user.pk))
        self.stdout.write(f"Granted {amount} to {username}; the balance is now {balance}.")
