from django.core.management.base import BaseCommand
from django.db import transaction

from playground.catalog.services import catalog_load, catalog_read


class Command(BaseCommand):
    help = "Load the model catalog data file into the database (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="validate and roll back")

    def handle(self, *args, dry_run: bool, **options):
        with transaction.atomic():
            result = catalog_load(data=catalog_read())
            if dry_run:
                transaction.set_rollback(True)
        verb = "would load" if dry_run else "loaded"
        self.stdout.write(
            f"Catalog {verb}: {result.models} models, {result.offerings} offerings, "
            f"{result.providers} providers."
        )
