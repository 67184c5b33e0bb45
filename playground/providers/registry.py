"""Which adapter class speaks for which provider slug of the catalog."""

from .base import STANDARD_PARAMETERS, Provider
from .demo import DemoProvider
from .fal import FalProvider
from .openai_compat import OpenAIProvider
from .qwen2512 import Qwen2512Provider
from .replicate import ReplicateProvider

PROVIDER_CLASSES: dict[str, type[Provider]] = {
    cls.slug: cls
    for cls in (DemoProvider, FalProvider, ReplicateProvider, Qwen2512Provider, OpenAIProvider)
}


def configured_providers() -> dict[str, Provider]:
    """The real providers whose keys are set, by slug (the demo is never among them)."""
    configured = {}
    for slug, cls in PROVIDER_CLASSES.items():
        if cls.is_demo:
            continue
        provider = cls.from_environment()
        if provider is not None:
            configured[slug] = provider
    return configured


def demo_provider() -> Provider:
    return DemoProvider()


def foreign_flags(slug: str) -> frozenset[str]:
    """Flags that belong to other providers only: sent to `slug`, they would be rejected."""
    own = set(PROVIDER_CLASSES[slug].parameters)
    return frozenset(
        name
        for other, cls in PROVIDER_CLASSES.items()
        if other != slug
        for name in cls.parameters
        if name not in STANDARD_PARAMETERS and name not in own
    )
