from django.contrib import admin

from playground.accounts.admin import ReadOnlyAdmin

from .models import Generation, GenerationImage


class GenerationImageInline(admin.TabularInline):
    model = GenerationImage
    extra = 0
    can_delete = False
    fields = ["index", "file", "content_type", "width", "height", "size_bytes", "seed"]
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
    inlines = [GenerationImageInline]
