"""Target 7, task queue: 200 playground jobs queued at once, a provider taking 2 s a job, two
`manage.py run_tasks` processes; all must be finished within 15 s of the first being queued.

The jobs are queued the way the playground queues them (`generation_start`, in bench/inside.py)
as fast as one process can. The run stops waiting after --wait seconds.

    python bench/task_queue.py              SQLite
    python bench/task_queue.py --scale-out  PostgreSQL and Redis
"""

import argparse

from common import (
    LOGS,
    TASK_WORKER,
    Row,
    fake,
    finish,
    inside,
    prepare,
    scale_out,
    site_env,
    stack,
    table,
    task_workers,
)

LIMIT_SECONDS = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds the provider takes")
    parser.add_argument("--wait", type=float, default=30.0, help="give up after this long")
    parser.add_argument("--scale-out", action="store_true")
    args = parser.parse_args()
    with stack("task_queue") as running:
        upstream = fake(running, "openai", delay=args.delay)
        env = site_env(running, **(scale_out() if args.scale_out else {}), **upstream.env)
        prepare(env, openai_offering=True)
        inside(env, "jobs", "warm-up", "1", "0")  # imports and caches, not timed
        task_workers(running, env, args.workers)
        inside(env, "jobs", "warm-up", "2", "30")  # the workers are up and polling
        result = inside(env, "jobs", "queue", str(args.jobs), str(args.wait))
    statuses = result["statuses"]
    done = sum(count for status, count in statuses.items() if status in ("succeeded", "failed"))
    succeeded = statuses.get("succeeded", 0)
    seconds = result["seconds"]
    finished_all = done == args.jobs
    rows = [
        Row("jobs queued", f"{args.jobs} in {result['queued_seconds']:.2f} s"),
        Row(
            "jobs finished, succeeded",
            f"{done}, {succeeded}",
            str(args.jobs),
            succeeded == args.jobs,
        ),
        Row(
            "time from first queued to all finished",
            f"{seconds:.2f} s" if finished_all else f"> {seconds:.1f} s (gave up)",
            f"<= {LIMIT_SECONDS:g} s",
            finished_all and seconds <= LIMIT_SECONDS,
        ),
        Row("throughput", f"{done / seconds:.1f} jobs/s"),
    ]
    setup = "PostgreSQL + Redis" if args.scale_out else "SQLite"
    notes = [
        f"{args.workers} worker processes (manage.py {TASK_WORKER}), {setup}, provider delay "
        f"{args.delay:g} s. Statuses: {statuses}. Logs: {LOGS / 'task_queue'}/."
    ]
    title = "Target 7: playground jobs through the task queue"
    finish(table(title + (" (scale-out)" if args.scale_out else ""), rows, notes))


if __name__ == "__main__":
    main()
