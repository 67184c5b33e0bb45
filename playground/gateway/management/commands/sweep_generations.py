from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from playground.gateway.services import STALE_AFTER, generation_sweep_stale
from playground.gateway.tasks import sweep_stale_generations


class Command(BaseCommand):
    help = (
        "End generations whose job died: release their holds (once) and mark them failed. "
        "With --schedule, make sure the worker runs this sweep every few minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes",
            type=int,
            default=int(STALE_AFTER.total_seconds() // 60),
            help="only holds older than this many minutes (default %(default)s)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
        parser.add_argument(
            "--schedule", action="store_true", help="queue the recurring sweep if none is queued"
        )

    def handle(self, *args, minutes: int, dry_run: bool, schedule: bool, **options):
        if schedule:
            self._schedule()
            return
        with transaction.atomic():
            resumed, released = generation_sweep_stale(older_than=timedelta(minutes=minutes))
            if dry_run:
                transaction.set_rollback(True)
        for generation_id in resumed:
            self.stdout.write(f"Resumed generation {generation_id} from its upstream jobs.")
        for generation_id in released:
            self.stdout.write(f"Released the hold of generation {generation_id}.")
        verb = "would be" if dry_run else "were"
        self.stdout.write(f"{len(resumed)} generation(s) {verb} resumed.")
        self.stdout.write(f"{len(released)} stale generation(s) {verb} released.")

    def _schedule(self) -> None:
        queued = DBTaskResult.objects.filter(
            status=TaskResultStatus.READY, task_path=sweep_stale_generations.module_path
        )
        if queued.exists():
            self.stdout.write("The sweep is already scheduled.")
            return
        sweep_stale_generations.enqueue()
        self.stdout.write("Scheduled the sweep of stale generations.")
