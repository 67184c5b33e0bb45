from .selectors import request_balance_micros, starter_credits_micros


def balance(request):
    """The signed-in user's balance for the header."""
    balance_micros = request_balance_micros(request)
    return {} if balance_micros is None else {"header_balance_micros": balance_micros}


def starter_credits(request):
    """What verifying an email gives a new account, for the pages that promise it."""
    return {"starter_credits_micros": starter_credits_micros()}
