from django.contrib.auth import views as auth_views
from django.urls import path

from playground.ratelimit import rate_limited

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.sign_up, name="sign-up"),
    path(
        "login/",
        rate_limited("log-in", setting="LOG_IN_RATE_LIMIT_PER_MINUTE")(
            auth_views.LoginView.as_view(
                template_name="accounts/login.html", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("balance/", views.balance, name="balance"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("generations/<uuid:generation_id>/", views.generation, name="generation"),
    path("usage/", views.usage, name="usage"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", views.revoke_api_key, name="api-key-revoke"),
    path("ledger.csv", views.ledger_csv, name="ledger-csv"),
]
