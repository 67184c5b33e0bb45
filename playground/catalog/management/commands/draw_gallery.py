from django.core.management.base import BaseCommand

from playground.catalog.gallery import gallery_draw, gallery_items
from playground.catalog.services import catalog_read


class Command(BaseCommand):
    help = "Draw the gallery placeholders of the catalog file with the demo provider."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list the files, draw nothing")

    def handle(self, *args, dry_run: bool, **options):
        for entry in catalog_read()["models"]:
            for item in gallery_items(slug=entry["id"], entries=entry.get("gallery", [])):
                if dry_run:
                    self.stdout.write(f"would draw {item.static_path}")
                else:
                    self.stdout.write(f"drew {gallery_draw(item)}")
