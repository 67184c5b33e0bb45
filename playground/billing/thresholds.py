"""The thresholds a balance crosses, in SQL as the ledger's own (accounts/ledger.py): auto top-up
and the low-balance notice.

Each fires once per crossing: the first charge that leaves the balance below it disarms it, in
one conditional UPDATE of the billing profile, so of many concurrent charges one wins. Both are
checked by the same statement, which every charged generation runs; it writes what it fired
into `fired_*`, since RETURNING sees only the values it wrote. The notice is armed again by any
credit that brings the balance back to its threshold (`low_balance_rearm`, which the ledger's
`_move` runs), auto top-up by its payment coming in (`services.payment_succeeded`).
"""

from dataclasses import dataclass

from django.db import connection

# Each `CASE` is one threshold's crossing: on, armed, and the balance below it.
_FIRE = """
    UPDATE billing_billingprofile SET
        fired_auto_top_up = CASE WHEN auto_top_up = %(on)s AND armed = %(on)s
            AND threshold_micros > %(balance)s THEN %(on)s ELSE %(off)s END,
        fired_low_balance = CASE WHEN low_balance_notice = %(on)s AND low_balance_armed = %(on)s
            AND low_balance_threshold_micros > %(balance)s THEN %(on)s ELSE %(off)s END,
        armed = CASE WHEN auto_top_up = %(on)s
            AND threshold_micros > %(balance)s THEN %(off)s ELSE armed END,
        crossings = crossings + CASE WHEN auto_top_up = %(on)s AND armed = %(on)s
            AND threshold_micros > %(balance)s THEN 1 ELSE 0 END,
        low_balance_armed = CASE WHEN low_balance_notice = %(on)s
            AND low_balance_threshold_micros > %(balance)s THEN %(off)s ELSE low_balance_armed END
    WHERE account_id = (SELECT id FROM accounts_account WHERE user_id = %(user)s) AND (
        auto_top_up = %(on)s AND armed = %(on)s AND threshold_micros > %(balance)s
        OR low_balance_notice = %(on)s AND low_balance_armed = %(on)s
            AND low_balance_threshold_micros > %(balance)s
    )
    RETURNING fired_auto_top_up, fired_low_balance
"""
_LOW_BALANCE_REARM = """
    UPDATE billing_billingprofile SET low_balance_armed = %(on)s
    WHERE account_id = %(account)s AND low_balance_armed = %(off)s
        AND low_balance_threshold_micros <= %(balance)s
"""


@dataclass(frozen=True, kw_only=True)
class Fired:
    auto_top_up: bool = False
    low_balance: bool = False


def thresholds_fire(*, user_id: int, balance_micros: int) -> Fired:
    """Disarm what a charge that left the user's balance at `balance_micros` crossed; what it
    fired (nothing, when another charge fired it first)."""
    values = {"user": user_id, "balance": balance_micros, "on": True, "off": False}
    with connection.cursor() as cursor:
        cursor.execute(_FIRE, values)
        row = cursor.fetchone()
    if row is None:
        return Fired()
    return Fired(auto_top_up=bool(row[0]), low_balance=bool(row[1]))


def low_balance_rearm(*, account_id: int, balance_micros: int) -> None:
    """Credits left the account's balance at `balance_micros`: if that is back to its
    low-balance threshold, the next crossing sends the notice again."""
    values = {"account": account_id, "balance": balance_micros, "on": True, "off": False}
    with connection.cursor() as cursor:
        cursor.execute(_LOW_BALANCE_REARM, values)
