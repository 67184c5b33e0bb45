from django.contrib import admin

from .models import ImageModel, Offering, ProviderInfo


class OfferingInline(admin.TabularInline):
    model = Offering
    extra = 0


@admin.register(ImageModel)
class ImageModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "vendor", "modes", "is_active", "position"]
    list_filter = ["is_active", "vendor"]
    search_fields = ["slug", "name"]
    inlines = [OfferingInline]


@admin.register(Offering)
class OfferingAdmin(admin.ModelAdmin):
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
class ProviderInfoAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "website"]
