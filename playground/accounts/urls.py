from allauth.account import views as allauth_views
from django.urls import path

from playground.ratelimit import rate_limited

from . import views

app_name = "accounts"

# Sign-up and log-in are allauth's views (mounted under the same prefix in playground/urls.py),
# taken here first to limit their posts; reverse them by allauth's names.
urlpatterns = [
    path(
        "signup/",
        rate_limited("sign-up", setting="SIGN_UP_RATE_LIMIT_PER_MINUTE")(allauth_views.signup),
    ),
    path(
        "login/",
        rate_limited("log-in", setting="LOG_IN_RATE_LIMIT_PER_MINUTE")(allauth_views.login),
    ),
    path("balance/", views.balance, name="balance"),
    path("", views.overview, name="overview"),
    path("settings/", views.settings, name="settings"),
    path("settings/log-out-everywhere/", views.log_out_everywhere, name="log-out-everywhere"),
    path("settings/delete/", views.delete, name="delete"),
    path("generations/<uuid:generation_id>/", views.generation, name="generation"),
    path("usage/", views.usage, name="usage"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", views.revoke_api_key, name="api-key-revoke"),
    path(
        "api-keys/webhook-secret/rotate/",
        views.rotate_webhook_secret,
        name="webhook-secret-rotate",
    ),
    path("ledger.csv", views.ledger_csv, name="ledger-csv"),
]
