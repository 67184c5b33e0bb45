from django.contrib import admin

from playground.accounts.admin import ReadOnlyAdmin

from .models import Generation, GenerationImage, WebhookDelivery
from .services import image_hide, image_unhide


class GenerationImageInline(admin.TabularInline):
    model = GenerationImage
    extra = 0
    can_delete = False
    fields = [
        "index",
        "file",
        "content_type",
        "width",
        "height",
        "size_bytes",
        "seed",
        "published_at",
        "hidden_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = [
        "attempt",
        "sent_at",
        "status_code",
        "error",
        "duration_ms",
        "response_excerpt",
        "next_attempt_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    """Generations are records of what happened and what was charged: read-only."""

    list_display = [
        "created_at",
        "user",
        "model",
        "status",
        "provider",
        "source",
        "hold_micros",
        "cost_micros",
    ]
    list_filter = ["status", "source", "provider", "model"]
    search_fields = ["id", "user__username", "prompt"]
    inlines = [GenerationImageInline, WebhookDeliveryInline]


class GalleryFilter(admin.SimpleListFilter):
    title = "gallery"
    parameter_name = "gallery"

    def lookups(self, request, model_admin):
        return [("shown", "Shown"), ("hidden", "Hidden by staff"), ("private", "Not published")]

    def queryset(self, request, queryset):
        match self.value():
            case "shown":
                return queryset.filter(published_at__isnull=False, hidden_at__isnull=True)
            case "hidden":
                return queryset.filter(hidden_at__isnull=False)
            case "private":
                return queryset.filter(published_at__isnull=True)
        return queryset


@admin.register(GenerationImage)
class GenerationImageAdmin(ReadOnlyAdmin):
    """Result images, read-only; staff hide published ones from the galleries, and a hidden one
    stays hidden until staff show it again, whatever its owner does."""

    list_display = ["file", "generation", "width", "height", "published_at", "hidden_at"]
    list_filter = [GalleryFilter, "generation__model"]
    search_fields = ["generation__id", "generation__user__username", "generation__prompt"]
    list_select_related = ["generation"]
    actions = ["hide", "unhide"]

    def has_gallery_permission(self, request) -> bool:
        return request.user.has_perm("gateway.view_generationimage")

    @admin.action(description="Hide from the galleries", permissions=["gallery"])
    def hide(self, request, queryset):
        hidden = image_hide(image_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Hid {hidden} image(s).")

    @admin.action(description="Show in the galleries again", permissions=["gallery"])
    def unhide(self, request, queryset):
        shown = image_unhide(image_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{shown} image(s) are shown again while published.")
