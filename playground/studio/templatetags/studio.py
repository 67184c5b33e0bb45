"""Template helpers of the playground: a job's phase, its timings and its parameters."""

from datetime import datetime

from django import template
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from playground.gateway.models import Generation

register = template.Library()

PHASES = {
    "queued": "Queued",
    "running": "Running",
    "cancelling": "Cancelling",
    "succeeded": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@register.filter
def phase_label(generation: Generation) -> str:
    """The status as the card says it."""
    return PHASES[generation.status]


@register.filter
def card_cache_seconds(generation: Generation) -> int:
    """How long a rendered card may be reused: a while once the job has ended, since nothing on
    it changes any more, and not at all before."""
    return settings.CARD_CACHE_SECONDS if generation.finished_at else 0


@register.filter
def seconds_since(moment: datetime | None) -> int:
    return max(0, int((timezone.now() - moment).total_seconds())) if moment else 0


@register.filter
def seconds_between(start: datetime | None, end: datetime | None) -> str:
    """ "2.4 s" between two moments, or "" when one is missing."""
    if not (start and end):
        return ""
    return f"{max(0.0, (end - start).total_seconds()):.1f} s"


@register.filter
def parameter_rows(generation: Generation) -> list[tuple[str, str]]:
    """The parameters of a run, as label and value, leaving out the ones not set; the size is
    the pixels of the images handed back, and what the provider that served the run did not
    take as asked follows as "Mapped" rows."""
    params = generation.params
    rows = [
        ("Mode", generation.get_mode_display()),
        ("Size", f"{generation.width} × {generation.height}"),
        *(("Mapped", note) for note in generation.mapped_notes),
        ("Images", str(generation.n)),
        ("Seed", str(generation.seed)),
        ("Format", str(params.get("output_format", "png")).upper()),
        ("Quality", params.get("output_compression")),
        ("Negative prompt", params.get("negative_prompt")),
        *(
            (name.replace("_", " ").capitalize(), value)
            for name, value in (params.get("extra") or {}).items()
        ),
    ]
    return [(label, _text(value)) for label, value in rows if value not in (None, "")]


def _text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@register.filter
def storage_url(name: str) -> str:
    return default_storage.url(name)


@register.filter
def file_format(content_type: str) -> str:
    """ "image/png" -> "PNG"."""
    return content_type.rpartition("/")[2].upper()
