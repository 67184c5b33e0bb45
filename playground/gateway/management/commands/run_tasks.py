"""A task worker that runs many queued tasks at once on one event loop.

`db_worker` runs one task at a time, and each async task on a new event loop (so with new
pooled clients): a worker waits out every provider call in turn. This one claims up to
`--concurrency` tasks of the database backend and runs them as asyncio tasks on one loop, so a
process waits on hundreds of provider calls together and reuses one httpx client per provider.
"""

import asyncio
import signal

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.tasks.signals import task_finished, task_started
from django.utils.crypto import get_random_string
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from playground.providers.clients import aclose_all


def _claim(*, worker_id: str, queues: list[str], limit: int) -> list[DBTaskResult]:
    close_old_connections()
    ready = DBTaskResult.objects.ready().filter(queue_name__in=queues)
    with exclusive_transaction(ready.db):
        claimed = list(ready.select_for_update(skip_locked=True)[:limit])
        for result in claimed:
            result.claim(worker_id)
    return claimed


async def _run(result: DBTaskResult) -> None:
    task = result.task
    task_result = result.task_result
    backend = type(task.get_backend())
    try:
        await sync_to_async(task_started.send)(sender=backend, task_result=task_result)
        value = await task.acall(*task_result.args, **task_result.kwargs)
        await sync_to_async(result.set_successful)(value)
    except Exception as exc:  # recorded on the task result, as db_worker does
        await sync_to_async(result.set_failed)(exc)
    await sync_to_async(task_finished.send)(sender=backend, task_result=result.task_result)


class Command(BaseCommand):
    help = "Run queued tasks, up to --concurrency at once on one event loop."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=200)
        parser.add_argument("--interval", type=float, default=0.5)
        parser.add_argument("--queue-name", default="default")

    def handle(self, *args, concurrency: int, interval: float, queue_name: str, **options):
        asyncio.run(self.serve(concurrency, interval, queue_name.split(",")))

    async def serve(self, concurrency: int, interval: float, queues: list[str]) -> None:
        worker_id = get_random_string(32)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        running: set[asyncio.Task] = set()
        changed = asyncio.Event()
        while not stopping.is_set():
            free = concurrency - len(running)
            claimed = (
                await sync_to_async(_claim)(worker_id=worker_id, queues=queues, limit=free)
                if free
                else []
            )
            for result in claimed:
                job = asyncio.create_task(_run(result))
                running.add(job)
                job.add_done_callback(lambda done: (running.discard(done), changed.set()))
            if not claimed:
                changed.clear()
                waits = [asyncio.ensure_future(e.wait()) for e in (stopping, changed)]
                await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
        if running:
            await asyncio.wait(running)
        await aclose_all()
