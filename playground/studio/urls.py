from django.urls import path

from . import views

app_name = "studio"

urlpatterns = [
    path("", views.playground, name="playground"),
    path("controls/", views.controls, name="controls"),
    path("quote/", views.quote, name="quote"),
    path("generate/", views.generate, name="generate"),
    path("compare/", views.compare, name="compare"),
    path("compare/quote/", views.compare_quote, name="compare-quote"),
    path("history/", views.history, name="history"),
    path("generations/<uuid:generation_id>/", views.detail, name="generation"),
    path("generations/<uuid:generation_id>/card/", views.card, name="generation-card"),
    path("generations/<uuid:generation_id>/cancel/", views.cancel, name="generation-cancel"),
    path("generations/<uuid:generation_id>/delete/", views.delete, name="generation-delete"),
    path("images/<int:image_id>/download/", views.download, name="image-download"),
    path("images/<int:image_id>/publish/", views.publish, name="image-publish"),
    path("images/<int:image_id>/unpublish/", views.unpublish, name="image-unpublish"),
]
