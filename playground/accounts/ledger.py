"""The two statements that move money, in SQL: a balance and a key's spend.

Every generation holds credits when it starts and settles them when it ends, so these run twice
on every API call; built by the ORM on each call, they cost more CPU than the rest of a
generation's database work (bench/README, F30). Each is one conditional UPDATE, its condition
the one the models' constraints enforce. `services.py` decides what moves, writes the ledger's
rows through the ORM and owns the transactions.
"""

from django.db import connection

_BALANCE_ADD = """
    UPDATE accounts_account SET balance_micros = balance_micros + %(amount)s
    WHERE id = %(id)s AND balance_micros + %(amount)s >= 0
        AND (NOT %(holds)s OR owed_micros = 0)
    RETURNING balance_micros, owed_micros
"""
_SPEND_ADD = """
    UPDATE accounts_apikey SET spent_micros = spent_micros + %(amount)s
    WHERE id = %(id)s AND (
        %(amount)s <= 0
        OR spend_limit_micros IS NULL
        OR spent_micros + %(amount)s <= spend_limit_micros
    )
"""


def balance_add(
    *, account_id: int, amount_micros: int, holds: bool = False
) -> tuple[int, int] | None:
    """Add to an account's balance (a negative amount takes); the new balance and what the
    account owes, or None if taking would go below zero, or if it `holds` for a generation
    while the account owes, and then nothing changed. The update locks the account's row until
    the transaction ends, so the figures it returns are exact."""
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_ADD, {"id": account_id, "amount": amount_micros, "holds": holds})
        return cursor.fetchone()


def spend_add(*, api_key_id: int, amount_micros: int) -> bool:
    """Count an amount against a key's spend (a negative amount gives back); False if it would
    pass the key's spend limit, and then nothing changed."""
    with connection.cursor() as cursor:
        cursor.execute(_SPEND_ADD, {"id": api_key_id, "amount": amount_micros})
        return cursor.rowcount == 1
