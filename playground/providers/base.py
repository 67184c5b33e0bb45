"""The one small interface every upstream protocol implements.

Adapters get plain data in (`ProviderJob`) and give plain data out (`ProviderResult`); they import
nothing from the other apps, and raise only the `ProviderError` family below.
"""

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx


@dataclass(frozen=True, kw_only=True)
class ProviderJob:
    """One upstream call: produce `n` images for this prompt at this size."""

    model_id: str
    prompt: str
    width: int
    height: int
    seed: int
    n: int = 1
    negative_prompt: str = ""
    images: tuple[bytes, ...] = ()
    mask: bytes | None = None
    output_format: str = "png"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ProviderImage:
    """An image as the provider returned it: the bytes, or a URL the gateway fetches."""

    data: bytes | None = None
    url: str | None = None
    seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderResult:
    images: list[ProviderImage]
    request_id: str = ""


class ProviderError(Exception):
    """An upstream call failed. `retryable` says whether another provider may succeed."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ProviderUnavailable(ProviderError):
    """Connection error, timeout or 5xx: try again later or elsewhere."""


class ProviderRateLimited(ProviderError):
    def __init__(self, message: str, *, status: int | None = 429, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider says the input is bad; another provider would say the same."""

    retryable = False


class Provider:
    """Base class of the adapters. Subclasses set the class attributes and `generate`."""

    slug: ClassVar[str]
    label: ClassVar[str]
    key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    is_demo: ClassVar[bool] = False
    max_images_per_call: ClassVar[int] = 1

    def __init__(self, *, api_key: str = "", base_url: str = ""):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_environment(cls) -> "Provider | None":
        """The adapter configured from the environment, or None when its key is not set."""
        api_key = os.environ.get(cls.key_env, "") if cls.key_env else ""
        if cls.key_env and not api_key:
            return None
        base_url = os.environ.get(cls.base_url_env, "") if cls.base_url_env else ""
        return cls(api_key=api_key, base_url=base_url or cls.default_base_url)

    async def generate(self, job: ProviderJob, client: httpx.AsyncClient) -> ProviderResult:
        raise NotImplementedError
