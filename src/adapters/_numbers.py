"""Numbers from untrusted JSON: JSON integers are unbounded, Python floats are not."""

from __future__ import annotations

import math


def finite_float(value: object) -> float | None:
    """``value`` as a finite float, or None if it is not a number (bools are not) or not finite.

    ``float(10**400)`` raises ``OverflowError`` and ``math.isfinite`` does too on such integers;
    a webhook body may carry one, and it must be refused as data, not crash the request.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
