import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from playground.catalog.models import ImageModel, Mode
from playground.providers.demo import DemoProvider

from .errors import CANCELLED


class GenerationSource(models.TextChoices):
    API = "api", "API"
    PLAYGROUND = "playground", "Playground"


class GenerationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"  # running, and asked to stop: its worker ends it
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Generation(models.Model):
    """One image job, from the API or the playground: who asked, what for, what happened, cost."""

    Source = GenerationSource
    Status = GenerationStatus

    # Statuses a worker may be running it in, and those it has ended in.
    UNDER_WAY = (GenerationStatus.RUNNING, GenerationStatus.CANCELLING)
    FINISHED = (GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="generations",
    )
    source = models.CharField(max_length=16, choices=GenerationSource.choices)
    model = models.ForeignKey(ImageModel, on_delete=models.PROTECT, related_name="generations")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.GENERATE)
    prompt = models.TextField()
    params = models.JSONField(default=dict)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    n = models.PositiveSmallIntegerField(default=1)
    seed = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED
    )
    routes = models.JSONField(default=list, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    # What the provider that served it did not take as asked: [{"param", "asked", "served"}].
    mapped = models.JSONField(default=list, blank=True)
    upstream = models.JSONField(default=list, blank=True)  # provider job handles, to cancel
    progress = models.JSONField(default=dict, blank=True)  # the provider's last status report
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a worker's last sign of life
    # Deleted by its owner: hidden everywhere, its files gone; the row stays for the ledger.
    deleted_at = models.DateTimeField(null=True, blank=True)
    hold_micros = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    error_param = models.CharField(max_length=100, blank=True)  # the parameter a refusal named
    # NULL, not "", means "no key", so that the unique constraint ignores those rows.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=GenerationStatus.values), name="generation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(cost_micros__gte=0) & Q(cost_micros__lte=models.F("hold_micros")),
                name="generation_cost_within_hold",
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="generation_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.status} {self.id}"

    @staticmethod
    def cancelled() -> dict:
        """The fields of a generation that ends cancelled (with its end time): the code the API
        answers it with (`errors.generation_error`), the note the pages show."""
        return {
            "status": GenerationStatus.CANCELLED,
            "error_code": CANCELLED,
            "error_message": "Cancelled.",
        }

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_demo(self) -> bool:
        return self.provider == DemoProvider.slug

    @property
    def mapped_notes(self) -> list[str]:
        """What the provider that served it did not take as asked, one line each."""
        return [
            f"{entry['param']}: asked {entry['asked']}, served {entry['served']}"
            for entry in self.mapped
        ]

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def stored_names(self) -> list[str]:
        """The names in storage of its result images and of the input images and mask it
        was given: what deleting it deletes."""
        inputs = self.params.get("inputs") or {}
        return [
            *(image.file.name for image in self.images.all()),
            *inputs.get("images", ()),
            *([inputs["mask"]] if inputs.get("mask") else []),
        ]


class GenerationImage(models.Model):
    """One stored result image; `file` names it in the default storage under an unguessable name.

    Its owner may publish it to its model's gallery and take it back (`published_at`); staff may
    hide it there (`hidden_at`), which outlasts the owner taking it back and publishing it again.
    """

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField()
    file = models.FileField(max_length=300)
    content_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    seed = models.BigIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "index"], name="generation_image_index_unique"
            ),
        ]
        indexes = [
            # The galleries read the few images shown, newest first, among all the others.
            models.Index(
                fields=["-published_at"],
                condition=Q(published_at__isnull=False, hidden_at__isnull=True),
                name="generation_image_shown",
            ),
        ]

    def __str__(self) -> str:
        return self.file.name

    @property
    def seed_used(self) -> int:
        """Its own seed, or its generation's when the provider reported none per image."""
        return self.generation.seed if self.seed is None else self.seed


class WebhookDelivery(models.Model):
    """One attempt at POSTing a finished generation's status object to its `webhook_url`,
    and what came back. The attempts of one generation are one message: the same `webhook-id`
    (`message_id`). `next_attempt_at` is set when another attempt is queued for then."""

    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    attempt = models.PositiveSmallIntegerField()  # 1 for the first
    sent_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    response_excerpt = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=200, blank=True)  # why there was no answer
    duration_ms = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "attempt"], name="webhook_delivery_attempt_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"webhook {self.generation_id} attempt {self.attempt}"

    @property
    def message_id(self) -> str:
        return webhook_message_id(self.generation_id)


def webhook_message_id(generation_id: uuid.UUID) -> str:
    """The `webhook-id` of a generation's webhook, the same on every attempt."""
    return f"msg_{generation_id.hex}"
