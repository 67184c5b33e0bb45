from django.urls import path, re_path

from . import views

app_name = "gateway"

urlpatterns = [
    path("images/generations", views.images_generations, name="images-generations"),
    path("images/edits", views.images_edits, name="images-edits"),
    path("generations/<uuid:generation_id>", views.generation_detail, name="generation-detail"),
    path("models", views.models_list, name="models"),
    path("models/<str:model_id>", views.model_detail, name="model-detail"),
    path("openapi.json", views.openapi_document, name="openapi"),
    # Any other path, newlines included; `[\s\S]`, not the (?s) flag, which reverse() rejects.
    re_path(r"^[\s\S]*$", views.not_found),
]
