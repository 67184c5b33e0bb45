from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("top-up/", views.top_up, name="top-up"),
    path("top-up/start/", views.top_up_start, name="top-up-start"),
    path("payments/", views.payments, name="payments"),
    path("payments/<int:payment_id>/", views.payment, name="payment"),
    path("auto-top-up/", views.auto_top_up, name="auto-top-up"),
    path("auto-top-up/card/", views.card_setup_start, name="card-setup-start"),
    path("auto-top-up/card/saved/", views.card_setup_finish, name="card-setup-finish"),
    path("auto-top-up/notice/", views.notice_dismiss, name="notice-dismiss"),
    path("low-balance/", views.low_balance, name="low-balance"),
]
