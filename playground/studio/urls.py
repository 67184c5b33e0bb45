from django.urls import path

from . import views

app_name = "studio"

urlpatterns = [
    path("", views.playground, name="playground"),
    path("generate/", views.generate, name="generate"),
    path("generations/<uuid:generation_id>/", views.generation_card, name="generation-card"),
]
