from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from playground.billing import views as billing_views
from playground.ratelimit import rate_limited

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", views.home_start, name="home-start"),
    path("healthz", views.healthz, name="healthz"),
    path("status/", views.status, name="status"),
    path("robots.txt", views.robots_txt, name="robots"),
    # Pages an operator edits in their templates (templates/site/).
    path("terms/", TemplateView.as_view(template_name="site/terms.html"), name="terms"),
    path("privacy/", TemplateView.as_view(template_name="site/privacy.html"), name="privacy"),
    path("contact/", TemplateView.as_view(template_name="site/contact.html"), name="contact"),
    path("media/<path:name>", views.media_file, name="media"),
    # The API: async views, reached through their own middleware chain (settings.API_MIDDLEWARE).
    path(settings.API_PREFIX.removeprefix("/"), include("playground.gateway.urls")),
    path("accounts/", include("playground.accounts.urls")),
    path("accounts/", include("playground.billing.urls")),
    path("accounts/", include("allauth.urls")),
    path("stripe/webhook/", billing_views.stripe_webhook, name="stripe-webhook"),
    path("playground/", include("playground.studio.urls")),
    path("", include("playground.catalog.urls")),
    # The admin's log-in is taken first to limit its posts, with the site's own log-in.
    path(
        f"{settings.ADMIN_PATH}login/",
        rate_limited("log-in", setting="LOG_IN_RATE_LIMIT_PER_MINUTE")(admin.site.login),
    ),
    path(settings.ADMIN_PATH, admin.site.urls),
]

handler500 = views.server_error
