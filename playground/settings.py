"""Settings for the playground, read from the environment.

Every setting has a default that runs on a bare machine: SQLite, local media files and the demo
provider. Production switches on when its variable is set (see the README's table).
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


INSECURE_SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"  # noqa: S105

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", INSECURE_SECRET_KEY)
if not DEBUG and SECRET_KEY == INSECURE_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's sessions page (usersessions) loads it
    "django_htmx",
    "django_tasks_db",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.usersessions",
    "playground.accounts",
    "playground.billing",
    "playground.catalog",
    "playground.gateway",
    "playground.providers",
    "playground.studio",
]

# Two middleware chains; `playground/asgi.py` gives each request one of them.
# - The API (under API_PREFIX) and static files take API_MIDDLEWARE on the event loop: natively
#   async middleware only, then Django's usual view handling. The API authenticates by key, is
#   exempt from CSRF and keeps no session, so it needs none of the browser's middleware.
# - Pages take MIDDLEWARE, the whole chain and the view in one trip to the sync thread.
# Under WSGI (wsgi.py, the test client, live_server) every request takes MIDDLEWARE.
API_PREFIX = "/v1/"
# Where Django's admin lives, without a leading slash: somewhere else than the well-known
# "admin/" spares it the scanners that try passwords there.
ADMIN_PATH = env_str("ADMIN_PATH", "admin/").strip("/") + "/"
if ADMIN_PATH == "/":
    raise ImproperlyConfigured("ADMIN_PATH must not be empty: the site's pages are at the root.")
API_MIDDLEWARE = [
    "playground.middleware.SecurityMiddleware",  # Django's, natively async too
    "playground.middleware.StaticFilesMiddleware",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "playground.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "playground.urls"
ASGI_APPLICATION = "playground.asgi.application"
WSGI_APPLICATION = "playground.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "playground.accounts.context_processors.balance",
                "playground.accounts.context_processors.starter_credits",
                "playground.billing.context_processors.notice",
                "playground.catalog.context_processors.catalog_version",
                "playground.context_processors.site",
            ],
            "libraries": {"site": "playground.site_tags"},
        },
    },
]

# Database: SQLite tuned for a web server by default, anything dj-database-url knows when
# DATABASE_URL is set (PostgreSQL in production).
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": {
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # One connection per thread for the life of the process: sync sections share one
            # thread (see asgi.py), and reconnecting per request cost CPU (bench/README, F2).
            "CONN_MAX_AGE": None,
            # Tests use a file too (not SQLite's shared in-memory database), so that the live
            # server's threads get connections of their own, as in production.
            "TEST": {
                "NAME": Path(tempfile.gettempdir()) / f"playground-test-{os.getpid()}.sqlite3"
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Files: static through whitenoise; media through Django's storage API, on local disk unless
# STORAGE_BUCKET names an S3-compatible bucket.
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from the finders then
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGE_BUCKET = env_str("STORAGE_BUCKET")
STORAGE_URL_EXPIRY_SECONDS = env_int("STORAGE_URL_EXPIRY_SECONDS", 3600)
if STORAGE_BUCKET:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            "endpoint_url": env_str("STORAGE_ENDPOINT_URL") or None,
            "access_key": env_str("STORAGE_ACCESS_KEY_ID") or None,
            "secret_key": env_str("STORAGE_SECRET_ACCESS_KEY") or None,
            "region_name": env_str("STORAGE_REGION") or None,
            "querystring_auth": True,
            "querystring_expire": STORAGE_URL_EXPIRY_SECONDS,
            "file_overwrite": False,
        },
    }
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Background work: Django's tasks framework, stored in the database and run by `run_tasks`.
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "studio:playground"
LOGOUT_REDIRECT_URL = "studio:playground"

# Accounts through django-allauth: sign up with an email (the username is optional, made up
# when left blank), log in with either. Verifying the email is optional to log in; it brings
# the starter credits (once per address) and is needed before paying by card (billing). GitHub
# and Google sign-in show up when their keys are set.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "playground.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "playground.accounts.adapters.SocialAccountAdapter"
ACCOUNT_FORMS = {"login": "playground.accounts.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_LOGOUT_REDIRECT_URL = LOGOUT_REDIRECT_URL
ACCOUNT_SESSION_REMEMBER = True
SOCIALACCOUNT_PROVIDERS = {
    provider: {"APPS": [{"client_id": client_id, "secret": env_str(f"{prefix}_CLIENT_SECRET")}]}
    for provider, prefix in (("github", "GITHUB"), ("google", "GOOGLE"))
    if (client_id := env_str(f"{prefix}_CLIENT_ID"))
}
# Sessions are recorded at log-in only: tracking each request would cost every page (and
# every poll of a running job) a write.
USERSESSIONS_TRACK_ACTIVITY = False

# Email through Django's mailers: to files in DATA_DIR/mail/ by default (one per message, to
# read by hand), SMTP when EMAIL_HOST is set, or any backend EMAIL_BACKEND names, such as one of
# django-anymail's (configured by the ANYMAIL_* variables: ANYMAIL_MAILGUN_API_KEY, ...).
email_host = env_str("EMAIL_HOST")
email_port = env_int("EMAIL_PORT", 587)
if email_host:
    default_mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": email_host,
            "port": email_port,
            "username": env_str("EMAIL_HOST_USER"),
            "password": env_str("EMAIL_HOST_PASSWORD"),
            "use_tls": env_bool("EMAIL_USE_TLS", email_port == 587),
            "use_ssl": env_bool("EMAIL_USE_SSL", email_port == 465),
            "timeout": env_int("EMAIL_TIMEOUT", 10),
        },
    }
else:
    default_mailer = {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": DATA_DIR / "mail"},
    }
email_backend = env_str("EMAIL_BACKEND")
if email_backend and email_backend != default_mailer["BACKEND"]:
    default_mailer = {"BACKEND": email_backend}
MAILERS = {"default": default_mailer}
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Security headers. Cookies, HSTS and the HTTPS redirect switch on with DEBUG off; behind a
# proxy that terminates TLS, set TRUST_X_FORWARDED_PROTO so Django knows a request was HTTPS.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Pages load scripts, styles and images from this site only (plus the image bucket, if any).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:", *env_list("CSP_EXTRA_IMG_SRC", "")],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Product settings.
# Who runs the site, as the header, footer, mails, terms, privacy policy and contact page name
# them. The defaults are placeholders: an operator sets their own before going live.
SITE_NAME = env_str("SITE_NAME", "Qwen Image Playground")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
CONTACT_EMAIL = env_str("CONTACT_EMAIL", "support@example.com")
OPERATOR_LEGAL_NAME = env_str("OPERATOR_LEGAL_NAME", "Example Operator Ltd.")
OPERATOR_ADDRESS = env_str("OPERATOR_ADDRESS")
# Where the site is, for the links in its emails.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
STARTER_CREDITS_USD = env_str("STARTER_CREDITS_USD", "1.00")

# Card payments through Stripe (docs/stripe.md); off until the three secrets are set.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")
TOPUP_PRESETS_USD = env_list("TOPUP_PRESETS_USD", "10,25,50,100")
TOPUP_MIN_USD = env_str("TOPUP_MIN_USD", "5")
TOPUP_MAX_USD = env_str("TOPUP_MAX_USD", "500")
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES * 5
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES
# Image URLs and webhooks given by callers must point at public addresses unless this is on
# (for a gateway inside a private network, and for tests against local servers).
FETCH_ALLOW_PRIVATE_HOSTS = env_bool("FETCH_ALLOW_PRIVATE_HOSTS", False)
MAX_INPUT_IMAGES = env_int("MAX_INPUT_IMAGES", 16)
# What decoding one edit's uploads may cost: their pixels together (images and mask; each image
# is also at most 40 megapixels), and how many edits of one account are decoded at once (one
# more is a 429 with Retry-After: DECODE_RETRY_AFTER_SECONDS). Both are checked from the files'
# headers before anything is decoded (docs/openai-api.md, "Uploads").
MAX_EDIT_PIXELS = env_int("MAX_EDIT_PIXELS", 100_000_000)
MAX_DECODES_PER_USER = env_int("MAX_DECODES_PER_USER", 2)
DECODE_RETRY_AFTER_SECONDS = env_int("DECODE_RETRY_AFTER_SECONDS", 2)
# The largest request body the site reads, /v1/ and pages alike: every image and a mask at their
# largest (the API's edits and the playground's edit form take as many). Under uvicorn it is
# counted as the body comes in, whether it has a Content-Length or is sent in chunks, and a body
# over it is answered 413 at once (playground/asgi.py).
MAX_BODY_BYTES = MAX_UPLOAD_BYTES * (MAX_INPUT_IMAGES + 1)
# Requests a minute: per API key and per client address on /v1/, and per address for the
# sign-up and log-in forms (posts only; the admin's log-in counts with the site's).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)
API_RATE_LIMIT_PER_IP_PER_MINUTE = env_int("API_RATE_LIMIT_PER_IP_PER_MINUTE", 1200)
SIGN_UP_RATE_LIMIT_PER_MINUTE = env_int("SIGN_UP_RATE_LIMIT_PER_MINUTE", 5)
LOG_IN_RATE_LIMIT_PER_MINUTE = env_int("LOG_IN_RATE_LIMIT_PER_MINUTE", 10)
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# The cache holds rate-limit counters: per process by default, shared through Redis when set.
REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # Rendered fragments ({% cache %}), such as the cards of ended generations: per process.
    "template_fragments": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
# With a shared cache, sessions are read through it (and stored in the database): a signed-in
# page, and each second's poll of a running job's card, reads no session row. Not with the
# per-process cache: a sign-out in one process would not reach the others.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)

# How long a process reuses a rendered card: at most a quarter of an image URL's life, so the
# signed links on a reused card stay valid.
CARD_CACHE_SECONDS = min(300, STORAGE_URL_EXPIRY_SECONDS // 4)

# Calls to a provider: attempts on one provider before failing over, and the first backoff.
PROVIDER_ATTEMPTS = env_int("PROVIDER_ATTEMPTS", 2)
PROVIDER_RETRY_WAIT_SECONDS = float(env_str("PROVIDER_RETRY_WAIT_SECONDS", "0.5"))

# A streamed generation (`"stream": true`) writes a comment line this often while it waits, so
# that proxies with idle timeouts keep the connection.
STREAM_KEEPALIVE_SECONDS = float(env_str("STREAM_KEEPALIVE_SECONDS", "15"))
