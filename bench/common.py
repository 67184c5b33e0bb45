"""What the benchmarks share: starting the site, workers and fakes on loopback, a small bounded
HTTP/1.1 client, percentiles and the results table.

Every process a benchmark starts is its own session (process group), stopped by its id when the
benchmark ends, also on Ctrl-C or an error. The site runs with DEBUG off, as in production, on a
fresh SQLite database in a temporary DATA_DIR unless a DATABASE_URL is given (scale-out runs).
"""

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))  # this checkout's site, whatever the venv has installed
BENCH = ROOT / "bench"
# The checkout's venv (`make install`); in a git worktree without one, the Python running this.
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable
HOST = "127.0.0.1"
PROMPT = "a lighthouse at dawn, benchmark"
LOGS = Path(tempfile.gettempdir()) / "bench-logs"  # the last run's process logs, by benchmark
# Settings a benchmark must not inherit from the shell: it brings its own.
INHERITED_OUT = (
    "DATABASE_URL",
    "REDIS_URL",
    "DATA_DIR",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "STORAGE_BUCKET",
    "FAL_KEY",
    "FAL_QUEUE_BASE_URL",
    "FAL_STORAGE_BASE_URL",
    "REPLICATE_API_TOKEN",
    "REPLICATE_BASE_URL",
    "QWEN2512_API_KEY",
    "QWEN2512_BASE_URL",
    "OPENAI_UPSTREAM_API_KEY",
    "OPENAI_UPSTREAM_BASE_URL",
    "DJANGO_SETTINGS_MODULE",
)


# Processes


class Process:
    """A child process in its own session; `stop()` ends its whole group (uvicorn's workers)."""

    def __init__(self, args: list[str], *, env: dict[str, str], name: str, log: Path):
        self.name = name
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 -- closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 -- our own command lines
            args,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def first_line(self, timeout: float = 30.0) -> str:
        """The first line the process prints on stdout (the fakes print their URL)."""
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self.popen.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            raise RuntimeError(f"{self.name} printed nothing; see {self.log_path}:\n{self.tail()}")
        return result[0].decode().strip()

    def tail(self, lines: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def workers(self) -> list[int]:
        """Ids of uvicorn's worker processes under --workers (children started by spawn)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            children = [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []
        return [pid for pid in children if b"spawn_main" in _cmdline(pid)]

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self._log.close()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakRss:
    """Samples the resident memory of some processes every 50 ms in a thread; `peak` per pid."""

    def __init__(self, pids: Callable[[], list[int]]):
        self.pids = pids
        self.peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for pid in self.pids():
                self.peak[pid] = max(self.peak.get(pid, 0.0), rss_mb(pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """Everything one benchmark started; stopped in reverse order when the benchmark ends."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = Process(args, env=env, name=name, log=self.workdir / f"{name}.log")
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


@contextlib.contextmanager
def stack(name: str) -> Iterator[Stack]:
    """A temporary working folder (DATA_DIR, logs) and the processes started in it. The logs
    of the processes are kept in LOGS/<name>/ afterwards.

    SIGTERM is turned into KeyboardInterrupt so that `make` being stopped also stops them."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        running = Stack(Path(workdir))
        try:
            yield running
        finally:
            running.stop()
            kept = LOGS / name
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True)
            for log in running.workdir.glob("*.log"):
                shutil.copy(log, kept)


@dataclass(frozen=True)
class Upstream:
    """A started fake provider: the settings pointing the gateway at it, and its address."""

    env: dict[str, str]
    url: str

    @property
    def api_key(self) -> str:
        return next(value for name, value in self.env.items() if "KEY" in name or "TOKEN" in name)


def fake(running: Stack, kind: str, *, delay: float, textured: bool = False) -> Upstream:
    """Start a fake provider (bench/fake.py) in its own process."""
    args = [PYTHON, str(BENCH / "fake.py"), kind, "--delay", str(delay)]
    if textured:
        args.append("--textured")
    process = running.start(f"fake-{kind}", args, env=os.environ.copy())
    settings = json.loads(process.first_line())
    return Upstream(env={k: v for k, v in settings.items() if k != "url"}, url=settings["url"])


def site_env(running: Stack, *, database_url: str = "", redis_url: str = "", **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_OUT}
    data_dir = running.workdir / "data"
    env |= {
        # BENCH_SETTINGS_MODULE measures a settings change without editing the site.
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "playground.settings"),
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATA_DIR": str(data_dir),
        "API_RATE_LIMIT_PER_MINUTE": "10000000",
        "API_RATE_LIMIT_PER_IP_PER_MINUTE": "10000000",
        "FETCH_ALLOW_PRIVATE_HOSTS": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env | {key: str(value) for key, value in extra.items()}


def manage(env: dict, *args: str) -> str:
    """Run a management command to the end; its output."""
    return _run(env, "manage.py", *args)


def inside(env: dict, *args: str):
    """Run a step of bench/inside.py in the site's Django; its JSON answer."""
    return json.loads(_run(env, str(BENCH / "inside.py"), *args).strip().splitlines()[-1])


def _run(env: dict, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [PYTHON, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(env: dict, *, openai_offering: bool = False, credits: int = 1_000_000) -> str:
    """Migrate, collect static files, load the catalog (plus the bench-only openai offering,
    which the catalog lacks: see README.md); returns an API key of user `bench` with credits."""
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "load_catalog")
    if openai_offering:
        inside(env, "offering")
    return (
        manage(env, "create_api_key", "bench", "--credits", str(credits)).strip().splitlines()[-1]
    )


SCALE_OUT_DATABASE = "bench"
# Database 9, not 0: flushing it between runs must not touch anyone else's keys.
SCALE_OUT_REDIS = f"redis://{HOST}:6379/9"


def scale_out() -> dict[str, str]:
    """Settings of a scale-out run: a fresh PostgreSQL database `bench` and an emptied Redis
    database, both on 127.0.0.1, shared by every site and worker process of the run."""
    for command in (["dropdb", "--if-exists", "--force"], ["createdb"]):
        subprocess.run(  # noqa: S603
            [*command, "-h", HOST, "-U", "postgres", SCALE_OUT_DATABASE], check=True
        )
    subprocess.run(  # noqa: S603
        ["redis-cli", "-h", HOST, "-p", "6379", "-n", "9", "FLUSHDB"],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return {
        "database_url": f"postgres://postgres@{HOST}:5432/{SCALE_OUT_DATABASE}",
        "redis_url": SCALE_OUT_REDIS,
    }


def uvicorn(
    running: Stack,
    env: dict,
    *,
    workers: int = 1,
    name: str = "site",
    app: str = "playground.asgi:application",
) -> str:
    """Serve the site (or another `app`, e.g. `bench.floor:app`) under uvicorn on a free port;
    returns its base URL once it answers."""
    port = free_port()
    args = [PYTHON, "-m", "uvicorn", app, "--host", HOST]
    args += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    if workers > 1:
        args += ["--workers", str(workers)]
    process = running.start(name, args, env=env)
    url = f"http://{HOST}:{port}"
    wait_until_up(url + "/v1/openapi.json", process)
    return url


TASK_WORKER = "run_tasks --interval 0.1"


def task_workers(running: Stack, env: dict, count: int) -> None:
    """`count` task worker processes (`manage.py run_tasks`)."""
    for index in range(count):
        running.start(f"worker-{index}", [PYTHON, "manage.py", *TASK_WORKER.split()], env=env)


def wait_until_up(url: str, process: Process, timeout: float = 60.0) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        try:
            status, _, _ = asyncio.run(one_request(parts.hostname, parts.port, "GET", parts.path))
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} in {timeout:g} s:\n{process.tail()}")


# A bounded HTTP/1.1 client: keep-alive connections, Content-Length or chunked bodies. Small and
# cheap on purpose, so the load generator takes little of the machine's two cores.


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=2**24
            )
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            return await self._response()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            body = b"".join(chunks)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def one_request(host, port, method, path, body=b"", headers=None):
    connection = Connection(host, port)
    try:
        return await connection.request(method, path, body, headers)
    finally:
        connection.close()


@dataclass(frozen=True)
class Sample:
    started: float  # time.perf_counter() when sent
    seconds: float
    status: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.error


@dataclass(frozen=True)
class Target:
    """Where to send one request: a base URL, a path, a JSON body and headers."""

    url: str
    path: str
    method: str = "POST"
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: bytes = b""  # what a good answer's body holds (a stream's last event), if anything

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname, parts.port

    @property
    def full_path(self) -> str:
        return urlsplit(self.url).path.rstrip("/") + self.path


async def timed(connection: Connection, target: Target, timeout: float) -> Sample:
    body = json.dumps(target.body).encode() if target.body is not None else b""
    headers = {"Content-Type": "application/json", **target.headers} if body else target.headers
    started = time.perf_counter()
    try:
        status, _, answer = await asyncio.wait_for(
            connection.request(target.method, target.full_path, body, headers), timeout
        )
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        connection.close()
        return Sample(started, time.perf_counter() - started, 0, type(exc).__name__)
    error = "" if target.expect in answer else f"no {target.expect.decode()!r} in the answer"
    return Sample(started, time.perf_counter() - started, status, error)


async def closed_loop(
    target: Target,
    *,
    clients: int,
    requests: int | None = None,
    seconds: float | None = None,
    timeout: float = 120.0,
) -> list[Sample]:
    """`clients` connections, each sending its next request when the last one is answered,
    until `requests` were sent in all or `seconds` have passed (at least one bound is given)."""
    assert requests is not None or seconds is not None
    left = [requests if requests is not None else sys.maxsize]
    deadline = time.perf_counter() + seconds if seconds is not None else float("inf")
    samples: list[Sample] = []

    async def client() -> None:
        connection = Connection(*target.address)
        try:
            while left[0] > 0 and time.perf_counter() < deadline:
                left[0] -= 1
                samples.append(await timed(connection, target, timeout))
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return samples


async def in_turns(
    targets: dict[str, Target], *, clients: int, rounds: int, seconds: float
) -> dict[str, list[Sample]]:
    """Each target's samples under `clients` closed-loop clients, once all are warmed up. The
    targets take turns of `seconds`, `rounds` times, so that drifting noise of the machine falls
    on all of them alike."""
    for target in targets.values():
        await closed_loop(target, clients=clients, requests=max(clients * 2, 10))
    samples = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            samples[name] += await closed_loop(target, clients=clients, seconds=seconds)
    return samples


async def at_once(target: Target, *, count: int, timeout: float) -> list[Sample]:
    """`count` requests sent together, each on its own connection."""

    async def one() -> Sample:
        connection = Connection(*target.address)
        try:
            return await timed(connection, target, timeout)
        finally:
            connection.close()

    return await asyncio.gather(*(one() for _ in range(count)))


async def poll_until(check: Callable[[], Awaitable[bool]], *, seconds: float, every=0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


# Numbers and the table


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(samples: list[Sample]) -> dict[str, float]:
    """Count, failures and latency percentiles (seconds) of the successful samples."""
    good = [sample.seconds for sample in samples if sample.ok]
    return {
        "count": len(samples),
        "failed": len(samples) - len(good),
        "p50": percentile(good, 50),
        "p90": percentile(good, 90),
        "p99": percentile(good, 99),
        "max": max(good, default=float("nan")),
    }


def failures(samples: list[Sample]) -> str:
    """A short account of what failed, e.g. '3x 502, 1x TimeoutError'."""
    counts: dict[str, int] = {}
    for sample in samples:
        if not sample.ok:
            key = sample.error or str(sample.status)
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{count}x {key}" for key, count in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class Row:
    what: str
    measured: str
    target: str = ""
    passed: bool | None = None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: ""}[self.passed]


def table(title: str, rows: list[Row], notes: list[str] = ()) -> bool:
    """Print the results; True when every row with a target passed."""
    headers = ("measure", "measured", "target", "")
    cells = [headers, *((row.what, row.measured, row.target, row.verdict) for row in rows)]
    widths = [max(len(cell[index]) for cell in cells) for index in range(4)]
    print(f"\n## {title}\n")
    for index, cell in enumerate(cells):
        padded = (text.ljust(width) for text, width in zip(cell, widths, strict=True))
        print("| " + " | ".join(padded) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for note in notes:
        print(f"\n{note}")
    print(f"\n{machine()}", flush=True)
    return all(row.passed is not False for row in rows)


def machine() -> str:
    load = os.getloadavg()[0]
    return (
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
        f", load average {load:.2f} when printed, {time.strftime('%Y-%m-%d %H:%M')}."
    )


def finish(passed: bool) -> None:
    """Exit 0 when the targets passed; `make bench` goes on with the next script either way."""
    sys.exit(0 if passed else 1)


def photo_like(width: int, height: int, image_format: str = "png", seed: int = 1) -> bytes:
    """A picture with a photo's texture (gradients plus grain), so that encoders work as hard
    as on a real result; a flat colour would flatter every format."""
    import io
    import random

    from PIL import Image, ImageFilter

    rng = random.Random(seed)  # noqa: S311 -- pictures, not secrets
    bands = []
    for _ in range(3):
        gradient = Image.linear_gradient("L").rotate(rng.randrange(360)).resize((width, height))
        grain = Image.effect_noise((width, height), rng.uniform(20, 40))
        shapes = Image.effect_mandelbrot(
            (width, height), (-2.0, -1.2, 0.8, 1.2), rng.randrange(20, 60)
        ).filter(ImageFilter.GaussianBlur(3))
        bands.append(Image.blend(Image.blend(gradient, shapes, 0.4), grain, 0.25))
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, format={"jpg": "JPEG"}.get(image_format, image_format))
    return out.getvalue()
