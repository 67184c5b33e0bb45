from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from playground.billing import views as billing_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("media/<path:name>", views.media_file, name="media"),
    # The API: async views, reached through their own middleware chain (settings.API_MIDDLEWARE).
    path(settings.API_PREFIX.removeprefix("/"), include("playground.gateway.urls")),
    path("accounts/", include("playground.accounts.urls")),
    path("accounts/", include("playground.billing.urls")),
    path("accounts/", include("allauth.urls")),
    path("stripe/webhook/", billing_views.stripe_webhook, name="stripe-webhook"),
    path("playground/", include("playground.studio.urls")),
    path("", include("playground.catalog.urls")),
    path("admin/", admin.site.urls),
]

handler500 = views.server_error
