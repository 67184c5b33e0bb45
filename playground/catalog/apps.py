from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CatalogConfig(AppConfig):
    name = "playground.catalog"
    label = "catalog"

    def ready(self):
        from .models import ImageModel, Offering, ProviderInfo
        from .selectors import catalog_forget

        for sender in (ImageModel, Offering, ProviderInfo):
            post_save.connect(catalog_forget, sender=sender, dispatch_uid="catalog-forget-save")
            post_delete.connect(catalog_forget, sender=sender, dispatch_uid="catalog-forget-delete")
