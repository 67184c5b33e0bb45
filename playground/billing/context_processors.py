from .selectors import billing_notice


def notice(request):
    """A failed auto top-up's notice, on every page the user opens until they dismiss it."""
    if not request.user.is_authenticated:
        return {}
    return {"billing_notice": billing_notice(user_id=request.user.pk)}
