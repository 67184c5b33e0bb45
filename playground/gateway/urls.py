from django.urls import path

from . import views

app_name = "gateway"

urlpatterns = [
    path("images/generations", views.images_generations, name="images-generations"),
    path("models", views.models_list, name="models"),
]
