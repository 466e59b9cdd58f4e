"""Column helpers: one declaration gives a field its name, type, Chinese label and description."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal stored as a scaled integer (money as fen).

    SQLite has no decimal type; integers are exact, fast and identical on both dialects.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.factor = 10**scale
        self.quantum = Decimal(1).scaleb(-scale)

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return to_scaled(Decimal(value), self.scale)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / self.factor).quantize(self.quantum)


def to_scaled(value: Decimal, scale: int) -> int:
    """Exact integer for `value` at `scale` places; refuses values that would be rounded."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than {scale} decimal places")
    return int(scaled)


Money = ScaledDecimal(2)
Quantity = ScaledDecimal(3)


def field(
    label: str,
    description: str,
    *,
    public: bool = True,
    sa_column_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A table field with its Chinese label (title) and English description.

    GraphQL docs, search mappings, Arrow schemas and data dictionaries read these back
    through `schema.catalogue`; nothing else restates them.
    """
    column_kwargs = {"comment": f"{label}: {description}", **(sa_column_kwargs or {})}
    return Field(
        title=label,
        description=description,
        schema_extra={"json_schema_extra": {"public": public}},
        sa_column_kwargs=column_kwargs,
        **kwargs,
    )
