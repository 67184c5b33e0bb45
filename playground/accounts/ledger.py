"""The statements that move credits, in SQL.

Every generation holds credits when it starts and settles them when it ends, so these run on
every API call. Built by the ORM on each call, the hold and the settle took 4.4-5.1 ms of CPU
per generation on SQLite, most of it building and compiling the queries; written once here, they
take 0.9 ms, the database's own work included (bench/README.md, F30). `services.py` decides what
moves and owns the transactions; each function here is one statement, and its condition is the
one the models' constraints enforce.
"""

from dataclasses import dataclass
from uuid import UUID

from django.db import connection

from .models import LedgerEntry

_BALANCE_ADD = """
    UPDATE accounts_account SET balance_micros = balance_micros + %(amount)s
    WHERE id = %(id)s AND balance_micros + %(amount)s >= 0
    RETURNING balance_micros
"""
_SPEND_ADD = """
    UPDATE accounts_apikey SET spent_micros = spent_micros + %(amount)s
    WHERE id = %(id)s
        AND (spend_limit_micros IS NULL OR spent_micros + %(amount)s <= spend_limit_micros)
"""
_HOLD = """
    SELECT account_id, api_key_id, amount_micros FROM accounts_ledgerentry
    WHERE generation_id = %(generation)s AND kind = %(kind)s
"""
_ENTRY_FIELDS = [field for field in LedgerEntry._meta.concrete_fields if not field.primary_key]
_ENTRY_INSERT = "INSERT INTO accounts_ledgerentry ({}) VALUES {} RETURNING id"
_ENTRY_COLUMNS = ", ".join(field.column for field in _ENTRY_FIELDS)
_ENTRY_VALUES = "({})".format(", ".join(["%s"] * len(_ENTRY_FIELDS)))


def balance_add(*, account_id: int, amount_micros: int) -> int | None:
    """Add to an account's balance (a negative amount takes); the new balance, or None if it
    would go below zero, and then nothing changed. The update locks the account's row until the
    transaction ends, so the balance it returns is exact."""
    row = _fetchone(_BALANCE_ADD, {"id": account_id, "amount": amount_micros})
    return row[0] if row else None


def spend_add(*, api_key_id: int, amount_micros: int) -> bool:
    """Count an amount against a key's spend (a negative amount gives back); False if it would
    pass the key's spend limit, and then nothing changed."""
    with connection.cursor() as cursor:
        cursor.execute(_SPEND_ADD, {"id": api_key_id, "amount": amount_micros})
        return cursor.rowcount == 1


def entries_add(*entries: LedgerEntry) -> None:
    """Write new entries' rows in one statement, as `save()` would: each entry's `created_at`
    is set and its pk comes back."""
    params = [
        field.get_db_prep_save(field.pre_save(entry, add=True), connection)
        for entry in entries
        for field in _ENTRY_FIELDS
    ]
    values = ", ".join([_ENTRY_VALUES] * len(entries))
    with connection.cursor() as cursor:
        cursor.execute(_ENTRY_INSERT.format(_ENTRY_COLUMNS, values), params)
        for entry, (pk,) in zip(entries, cursor.fetchall(), strict=True):
            entry.pk = pk
            entry._state.adding = False
            entry._state.db = connection.alias


@dataclass(frozen=True, kw_only=True)
class Hold:
    """What settling a generation's hold needs of it."""

    account_id: int
    generation_id: UUID
    api_key_id: int | None
    amount_micros: int  # negative, as in the ledger


def hold_of(*, generation_id: UUID) -> Hold | None:
    """A generation's hold, or None if it has none."""
    generation = LedgerEntry._meta.get_field("generation")
    row = _fetchone(
        _HOLD,
        {
            "generation": generation.get_db_prep_value(generation_id, connection),
            "kind": LedgerEntry.Kind.HOLD.value,
        },
    )
    if row is None:
        return None
    account_id, api_key_id, amount_micros = row
    return Hold(
        account_id=account_id,
        generation_id=generation_id,
        api_key_id=api_key_id,
        amount_micros=amount_micros,
    )


def _fetchone(sql: str, params) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
