"""Redeem codes: how they are written, and batches of new ones. Redeeming one moves credits, so
that is `services.credits_redeem`."""

import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from .models import RedeemBatch, RedeemCode

# 16 characters from an alphabet without look-alikes (80 bits), shown in fours.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4


def redeem_code_normalize(raw: str) -> str:
    """A code as stored, from what a person typed: case, spaces and dashes do not matter."""
    compact = "".join(ch for ch in raw.upper() if ch.isalnum())
    return "-".join(
        compact[i : i + CODE_GROUP_LENGTH] for i in range(0, len(compact), CODE_GROUP_LENGTH)
    )


@transaction.atomic
def redeem_batch_create(
    *,
    name: str,
    amount_micros: int,
    count: int,
    created_by: AbstractBaseUser,
    expires_at: datetime | None = None,
) -> RedeemBatch:
    """A batch of `count` fresh single-use codes, each worth `amount_micros`."""
    if count < 1:
        raise ValueError("a batch needs at least one code")
    batch = RedeemBatch.objects.create(
        name=name, amount_micros=amount_micros, expires_at=expires_at, created_by=created_by
    )
    RedeemCode.objects.bulk_create(
        RedeemCode(
            batch=batch,
            code=_new_code(),
            amount_micros=amount_micros,
            expires_at=expires_at,
        )
        for _ in range(count)
    )
    return batch


def _new_code() -> str:
    length = CODE_GROUPS * CODE_GROUP_LENGTH
    return redeem_code_normalize("".join(secrets.choice(CODE_ALPHABET) for _ in range(length)))
