from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from playground.accounts.money import format_usd
from playground.accounts.selectors import holds_unreleased
from playground.accounts.services import credits_release_stale

DEFAULT_MINUTES = 30


class Command(BaseCommand):
    help = (
        "Release the holds of jobs that never settled (their worker died) once they are older "
        "than --minutes. Each hold is released once; running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes",
            type=int,
            default=DEFAULT_MINUTES,
            help=f"release holds older than this (default {DEFAULT_MINUTES})",
        )
        parser.add_argument("--dry-run", action="store_true", help="list them only")

    def handle(self, *args, minutes, dry_run, **options):
        held_before = timezone.now() - timedelta(minutes=minutes)
        if dry_run:
            for hold in holds_unreleased(held_before=held_before):
                self.stdout.write(
                    f"Would release {format_usd(-hold.amount_micros)} held for generation "
                    f"{hold.generation_id} since {hold.created_at:%Y-%m-%d %H:%M:%S}."
                )
            return
        released = credits_release_stale(held_before=held_before)
        for generation_id in released:
            self.stdout.write(f"Released the hold of generation {generation_id}.")
        self.stdout.write(f"{len(released)} stale hold(s) released.")
