"""What every annotation write validates with: one collector of field errors, one number check."""

from __future__ import annotations

import math
from typing import Any

from apps.core.exceptions import ApplicationError

UNSET: Any = object()  # "not given", where None is a value a caller may send


class FieldErrors:
    """Collects field errors so one response names every field at fault."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self, message: str = "Invalid input.") -> None:
        if self.fields:
            if len(self.fields) == 1:
                ((name, messages),) = self.fields.items()
                message = f"{message.rstrip('.')}: {name}: {messages[0]}"
            raise ApplicationError(message, fields=self.fields)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
