"""The site's security settings: CSRF on every form and every htmx post, and with production
settings (DEBUG off) secure cookies, HSTS, the HTTPS redirect, no debug pages, and a clean
`manage.py check --deploy`.

The production checks run the site as production does, in its own processes: `migrate`,
`collectstatic`, then uvicorn, with DEBUG=false and the environment of the README.
"""

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from playground.providers.registry import PROVIDER_CLASSES
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
HOST = "playground.example"
STARTUP_SECONDS = 60
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
HX_POST = re.compile(r'hx-post="([^"]+)"')
# Settings of the host that must not leak into the production site under test.
FOREIGN_ENV = {
    "DATABASE_URL",
    "STORAGE_BUCKET",
    "REDIS_URL",
    "TASKS_BACKEND",
    "DEBUG",
    *(name for cls in PROVIDER_CLASSES.values() for name in (cls.key_env, cls.base_url_env)),
}


# CSRF


def posts_on(page: str) -> list[tuple[str, bool]]:
    """(url, carries a token) for every form posting and every htmx post on `page`."""
    found = []
    for attributes, inner in FORM.findall(page):
        if re.search(r'method="post"', attributes, re.IGNORECASE):
            action = re.search(r'action="([^"]*)"', attributes)
            found.append((action[1] if action else "", "csrfmiddlewaretoken" in inner))
    has_header = bool(re.search(r"hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'", page))
    found += [(url, has_header) for url in HX_POST.findall(page)]
    return found


@pytest.mark.django_db
def test_every_form_and_htmx_post_carries_a_token_and_is_refused_without(catalog):
    user = factories.user_with_account()
    staff = factories.user_with_account()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    signed_in = Client()
    signed_in.force_login(user)
    signed_in.post(
        reverse("studio:generate"),
        {"model": "qwen-image:generate", "prompt": "x", "aspect_ratio": "1:1"}
        | {"resolution": "1K", "n": "1", "output_format": "png"},
        headers={"HX-Request": "true"},
    )
    signed_in.post(reverse("accounts:api-keys"), {"name": "a key"})
    admin = Client()
    admin.force_login(staff)
    generation = user.generations.get()
    pages = {
        signed_in: [
            reverse("studio:playground"),
            reverse("studio:compare"),
            reverse("studio:generation", args=[generation.pk]),
            reverse("accounts:api-keys"),
            reverse("billing:top-up"),
            reverse("accounts:overview"),
        ],
        Client(): [reverse("account_login"), reverse("account_signup")],
        admin: [
            reverse("admin:index"),
            reverse("admin:gateway_generation_change", args=[generation.pk]),
        ],
    }

    checked = set()
    for client, paths in pages.items():
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200, path
            for url, has_token in posts_on(page.content.decode()):
                target = url or path
                assert has_token, f"a post to {target} on {path} carries no CSRF token"
                strict = Client(enforce_csrf_checks=True)
                strict.cookies = client.cookies  # signed in as the page's user
                refused = strict.post(target, {})
                assert refused.status_code == 403, f"{target} accepted a post without a token"
                checked.add(target)

    assert {
        reverse("studio:generate"),
        reverse("studio:compare"),
        reverse("studio:generation-delete", args=[generation.pk]),
        reverse("accounts:api-keys"),
        reverse("billing:top-up"),
        reverse("account_logout"),
        reverse("account_login"),
        reverse("account_signup"),
    } <= checked


# Production settings


def production_env(data_dir: Path) -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in FOREIGN_ENV} | {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": f"{HOST},127.0.0.1",
        "DATA_DIR": str(data_dir),
        "TRUST_X_FORWARDED_PROTO": "true",
        "LOG_LEVEL": "WARNING",
    }


def manage(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Iterator[str]:
    """The site under uvicorn with production settings; its base URL."""
    data_dir = tmp_path_factory.mktemp("production")
    env = production_env(data_dir)
    for command in (["migrate", "--noinput"], ["load_catalog"], ["collectstatic", "--noinput"]):
        done = manage(env, *command)
        assert done.returncode == 0, done.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "playground.asgi:application", "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in server.stderr:
            if match := re.search(r"running on (http://\S+)", line):
                url = match[1]
                break
        assert url, "uvicorn did not start"
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    # With mail through SMTP: the default file backend is for development (mail.E001 says so).
    env = production_env(tmp_path) | {"EMAIL_HOST": "smtp.example.com"}
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_refuses_to_start_with_the_default_secret_key(tmp_path):
    env = production_env(tmp_path) | {"SECRET_KEY": ""}
    env.pop("SECRET_KEY")

    done = manage(env, "check")

    assert done.returncode != 0
    assert "Set SECRET_KEY when DEBUG is off" in done.stderr


def test_plain_http_is_redirected_to_https(production):
    response = httpx.get(f"{production}/playground/", headers={"Host": HOST})

    assert response.status_code == 301
    assert response.headers["location"] == f"https://{HOST}/playground/"


def test_the_api_is_redirected_to_https_and_answers_with_hsts(production):
    """The API's requests pass the security middleware on the event loop, not in a thread."""
    plain = httpx.get(f"{production}/v1/models", headers={"Host": HOST})
    secure = httpx.get(
        f"{production}/v1/models", headers={"Host": HOST, "X-Forwarded-Proto": "https"}
    )

    assert plain.status_code == 301
    assert plain.headers["location"] == f"https://{HOST}/v1/models"
    assert secure.status_code == 401  # no key: the envelope, with the security headers
    assert secure.json()["error"]["code"] == "missing_api_key"
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")
    assert secure.headers["x-content-type-options"] == "nosniff"


def post_form(site: str, path: str, fields: dict) -> tuple[httpx.Response, httpx.Response]:
    """GET the form at `path` and post it back with `fields`, as a browser on HTTPS would:
    the cookies are Secure, so they are sent by hand (this hop is plain HTTP)."""
    https = {"Host": HOST, "X-Forwarded-Proto": "https"}
    page = httpx.get(f"{site}{path}", headers=https)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    cookie = page.cookies["csrftoken"]
    posted = httpx.post(
        f"{site}{path}",
        data={"csrfmiddlewaretoken": token, **fields},
        headers=https | {"Referer": f"https://{HOST}{path}", "Cookie": f"csrftoken={cookie}"},
    )
    return page, posted


def test_pages_over_https_carry_hsts_csp_and_secure_cookies(production):
    login, attempt = post_form(
        production, "/accounts/login/", {"login": "nobody", "password": "wrong"}
    )

    assert login.status_code == 200
    headers = login.headers
    assert headers["strict-transport-security"] == ("max-age=31536000; includeSubDomains; preload")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    csrf_cookie = next(c for c in login.headers.get_list("set-cookie") if "csrftoken" in c)
    assert "Secure" in csrf_cookie and "SameSite=Lax" in csrf_cookie
    assert attempt.status_code == 200  # the form again, with its error: the token was accepted


def test_a_session_cookie_is_secure_and_http_only(production):
    _, signed_up = post_form(
        production,
        "/accounts/signup/",
        {
            "email": f"prod{secrets.token_hex(4)}@example.com",
            "password1": factories.PASSWORD,
            "password2": factories.PASSWORD,
        },
    )

    assert signed_up.status_code == 302

    session_cookie = next(c for c in signed_up.headers.get_list("set-cookie") if "sessionid" in c)
    assert "Secure" in session_cookie
    assert "HttpOnly" in session_cookie


def test_errors_show_no_debug_page(production):
    https = {"Host": HOST, "X-Forwarded-Proto": "https"}

    page = httpx.get(f"{production}/no-such-page/", headers=https)
    api = httpx.get(f"{production}/v1/no-such-thing", headers=https)
    other_host = httpx.get(f"{production}/playground/", headers={"Host": "evil.example"})

    assert page.status_code == 404
    assert "Traceback" not in page.text and "DEBUG" not in page.text
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    assert other_host.status_code == 400
    assert "ALLOWED_HOSTS" not in other_host.text


@pytest.mark.parametrize(
    ("redis_url", "engine"),
    [
        ("", "django.contrib.sessions.backends.db"),
        ("redis://127.0.0.1:6379/9", "django.contrib.sessions.backends.cached_db"),
    ],
)
def test_sessions_are_read_through_the_cache_only_when_every_process_shares_it(
    tmp_path, redis_url, engine
):
    """A sign-out must reach every process: a per-process cache would keep the session alive."""
    env = production_env(tmp_path) | {"REDIS_URL": redis_url}
    done = manage(
        env, "shell", "-c", "from django.conf import settings; print(settings.SESSION_ENGINE)"
    )

    assert done.stdout.splitlines()[-1] == engine, done.stdout + done.stderr
