"""What every page says about the site: its name and who runs it (settings), and the absolute
addresses its social tags need."""

from django.conf import settings
from django.templatetags.static import static


def site_identity() -> dict:
    """The site's name and operator, for templates rendered without a request too (the 500
    page: `views.server_error`)."""
    return {
        "site_name": settings.SITE_NAME,
        "contact_email": settings.CONTACT_EMAIL,
        "operator_legal_name": settings.OPERATOR_LEGAL_NAME,
        "operator_address": settings.OPERATOR_ADDRESS,
    }


def site(request):
    return {
        **site_identity(),
        "page_url": request.build_absolute_uri(request.path),
        "social_image_url": request.build_absolute_uri(static("img/social.png")),
    }
