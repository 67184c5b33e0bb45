"""Run every benchmark one after the other (`make bench`): each prints its table; a summary of
which targets passed comes last. Each script gets at most --limit seconds. The soak runs only
when named: `--only soak`.

    python bench/all.py [--only overhead,pages] [--skip-scale-out] [--limit 240]
"""

import argparse
import subprocess
import sys
import time

from common import BENCH, PYTHON, ROOT, machine

RUNS = (
    ("overhead", ()),
    ("concurrency", ()),
    ("concurrency", ("--stream",)),
    ("emulated_n", ()),
    ("conversion", ()),
    ("uploads", ()),
    ("peer", ()),
    ("pages", ()),
    ("task_queue", ()),
    ("concurrency", ("--scale-out",)),
    ("task_queue", ("--scale-out",)),
    ("soak", ("--seconds", "120")),
)
# Run only when --only names them: the soak looks for failures and leaks, it has no target.
ON_REQUEST = {"soak"}


def run(script: str, options: tuple[str, ...], limit: float) -> str:
    """PASS or FAIL; past `limit`, SIGTERM lets the script stop what it started."""
    child = subprocess.Popen([PYTHON, str(BENCH / f"{script}.py"), *options], cwd=ROOT)  # noqa: S603
    try:
        return "PASS" if child.wait(limit) == 0 else "FAIL"
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return f"FAIL (did not finish in {limit:g} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated script names: "
        + ",".join(dict.fromkeys(script for script, _ in RUNS)),
    )
    parser.add_argument("--skip-scale-out", action="store_true")
    parser.add_argument("--limit", type=float, default=240.0)
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    started = time.monotonic()
    verdicts = []
    for script, options in RUNS:
        if (script not in only) if only else (script in ON_REQUEST):
            continue
        if args.skip_scale_out and "--scale-out" in options:
            continue
        name = " ".join((script, *options))
        verdicts.append((name, run(script, options, args.limit)))
    print("\n## Summary\n")
    for name, verdict in verdicts:
        print(f"- {name}: {verdict}")
    print(f"\nAll benchmarks took {time.monotonic() - started:.0f} s. {machine()}")
    sys.exit(0 if all(verdict == "PASS" for _, verdict in verdicts) else 1)


if __name__ == "__main__":
    main()
