"""Column helpers: one declaration gives a field its name, type, Chinese label and description."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal stored as a scaled integer (money as fen).

    SQLite has no decimal type; integers are exact, fast and identical on both dialects.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 2, shown: int | None = None) -> None:
        super().__init__()
        self.scale = scale
        self.factor = 10**scale
        self.quantum = Decimal(1).scaleb(-scale)
        # Places always shown; those beyond, up to `scale`, only when not zero.
        self.shown = Decimal(1).scaleb(-(scale if shown is None else shown))

    @property
    def python_type(self) -> type:
        """What it holds for Python (a keyset cursor's value is checked against it)."""
        return Decimal

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return to_scaled(Decimal(value), self.scale)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return self.from_scaled(value)

    def from_scaled(self, value: int) -> Decimal:
        """The stored integer as yuan (units): 49990000 → 4999.00, 50 → 0.005 at scale 4."""
        exact = Decimal(value).scaleb(-self.scale).quantize(self.quantum)
        short = exact.quantize(self.shown)
        return short if short == exact else exact.normalize()


def to_scaled(value: Decimal, scale: int) -> int:
    """Exact integer for `value` at `scale` places; refuses values that would be rounded."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than {scale} decimal places")
    return int(scaled)


Money = ScaledDecimal(2)
# Unit prices to 0.0001 yuan: e-malls price paper by the sheet (0.005 元). Shown with two
# places, and up to four when the price has them (4999.00, 0.005, 33.3333).
UnitPrice = ScaledDecimal(4, shown=2)
Quantity = ScaledDecimal(3)


def field(
    label: str,
    description: str,
    *,
    public: bool = True,
    exported: bool = True,
    sa_column_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A table field with its Chinese label (title) and English description.

    GraphQL docs, search mappings, Arrow schemas and data dictionaries read these back
    through `schema.catalogue`; nothing else restates them. `exported=False` keeps a public
    field out of the dumps: a compiled row's surrogate id, which a past version has not.
    """
    column_kwargs = {"comment": f"{label}: {description}", **(sa_column_kwargs or {})}
    return Field(
        title=label,
        description=description,
        schema_extra={"json_schema_extra": {"public": public, "exported": exported}},
        sa_column_kwargs=column_kwargs,
        **kwargs,
    )


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class, typed.

    SQLModel sets `__table__` at class creation but does not declare it, so type checkers
    see no such attribute; this is the one place that says so. A model that is not a table
    (`table=True` missing) is refused here rather than failing later on `.c`.
    """
    table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table
