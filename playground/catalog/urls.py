from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/<slug:slug>/", views.model_detail, name="model-detail"),
    path("pricing/", views.pricing, name="pricing"),
    path("faq/", views.faq, name="faq"),
    path("docs/api/", views.api_docs, name="api-docs"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
]
