from django.contrib import admin

from .cache import catalog_changed
from .models import ImageModel, Offering, ProviderInfo


class CatalogAdmin(admin.ModelAdmin):
    """Every save and delete of a catalog row in the admin moves the catalog's version, so that
    every process reads the catalog again. A model's inline offerings are saved in the same
    transaction as the model, before the commit that moves it again."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalog_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalog_changed()


class OfferingInline(admin.TabularInline):
    model = Offering
    extra = 0


@admin.register(ImageModel)
class ImageModelAdmin(CatalogAdmin):
    list_display = ["slug", "name", "vendor", "modes", "is_active", "position"]
    list_filter = ["is_active", "vendor"]
    search_fields = ["slug", "name"]
    inlines = [OfferingInline]


@admin.register(Offering)
class OfferingAdmin(CatalogAdmin):
    list_display = [
        "model",
        "provider",
        "provider_model_id",
        "price_micros",
        "price_unit",
        "is_estimate",
        "native_price",
        "is_active",
    ]
    list_filter = ["provider", "is_active", "is_estimate"]
    search_fields = ["model__slug", "provider_model_id"]


@admin.register(ProviderInfo)
class ProviderInfoAdmin(CatalogAdmin):
    list_display = ["slug", "name", "website"]
