"""The sweep of generations whose job died runs on a schedule kept in the task queue."""

import io

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from playground.gateway.tasks import sweep_stale_generations

pytestmark = pytest.mark.django_db


def queued_sweeps():
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=sweep_stale_generations.module_path
    )


def test_scheduling_twice_queues_one_sweep(database_tasks):
    out = io.StringIO()
    call_command("sweep_generations", "--schedule", stdout=out)
    call_command("sweep_generations", "--schedule", stdout=out)

    assert queued_sweeps().count() == 1
    assert "already scheduled" in out.getvalue()


def test_each_sweep_queues_the_next_one_later(database_tasks):
    assert sweep_stale_generations.call() == {"resumed": 0, "released": 0}

    (following,) = queued_sweeps()
    assert following.run_after > timezone.now()
