from django.contrib.auth.models import AbstractBaseUser

from playground.gateway.models import Generation


def generation_list_recent(*, user: AbstractBaseUser, limit: int = 12):
    return (
        Generation.objects.filter(user=user)
        .select_related("model")
        .prefetch_related("images")[:limit]
    )
