from .selectors import billing_notice


def notice(request):
    """A failed auto top-up's notice, on every page the user opens until they dismiss it (whole
    pages only: htmx's fragments have no place for it)."""
    if not request.user.is_authenticated or getattr(request, "htmx", False):
        return {}
    return {"billing_notice": billing_notice(user_id=request.user.pk)}
