"""What the Spark job's casts accept, so that the producer refuses, field by field, what the job would.

The job types CoinCap's decimal strings with `try_cast(... AS DECIMAL(38,18))` and the rank with
`try_cast(... AS INT)` (job.transforms). A test checks these functions against Spark itself.
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, InvalidOperation

MONEY_INTEGER_DIGITS, MONEY_SCALE = 20, 18
_JAVA_TRIM = "".join(map(chr, range(0x21)))  # Java's String.trim: every character up to U+0020
# Java's BigDecimal syntax; like Java's Character.digit, `\d` takes any Unicode decimal digit.
_JAVA_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Past a million places Spark's cast takes seconds a value, past some hundred million it fails the
# whole job (BigInteger overflow): a non-zero number whose exponent is written with seven digits or more
# is refused though Spark might cast it. The job refuses the same text (job.transforms.HUGE_EXPONENT).
HUGE_EXPONENT = re.compile(r"[0-9.]*[1-9][0-9.]*[eE][+-]?0*[0-9]{7,}")
# What the APIs send: at most 20 digits before the point and 18 after fit without rounding.
_PLAIN_MONEY = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{0,18})?")
_MONEY_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
_SPARK_INT_TRIM = _JAVA_TRIM + "\x7f"  # Spark's own trimAll: ASCII whitespace and control characters
_SPARK_INT = re.compile(r"([+-]?)0*([0-9]{1,10})")


def fits_money(text: str) -> bool:
    """Whether Spark casts `text` to DECIMAL(38,18): a Java BigDecimal rounded half up to 18 places, < 10^20."""
    if _PLAIN_MONEY.fullmatch(text):
        return True
    text = text.strip(_JAVA_TRIM)
    if not _JAVA_DECIMAL.fullmatch(text) or (not text.isascii() and max(text) > "\uffff"):  # Java reads UTF-16
        return False
    try:
        number = Decimal(text)
    except InvalidOperation:
        return False
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or not -(2**31) < exponent <= 2**31:  # Java's scale (-exponent) is an int
        return False
    if HUGE_EXPONENT.fullmatch(text.lstrip("+-")):
        return False
    if len(digits) + exponent > 38:  # Spark refuses more than 38 integral digits before it rounds
        return False
    rounded = number.quantize(Decimal(1).scaleb(-MONEY_SCALE), context=_MONEY_CONTEXT)
    return rounded.copy_abs() < 10**MONEY_INTEGER_DIGITS


def fits_int(text: str) -> bool:
    """Whether Spark casts `text` to INT: ASCII digits with an optional sign, within 32 bits."""
    match = _SPARK_INT.fullmatch(text.strip(_SPARK_INT_TRIM))
    return match is not None and -(2**31) <= int(match[1] + match[2]) < 2**31
