"""The two columns that date a version of a compiled row in the dumps (SCD-2).

Compiled records (projects and their lots, awards, contracts, suppliers, item lines, experts)
change as notices arrive; the dumps keep every version, each valid from the Beijing day its
project's state changed until the day the next version replaced it. Declared here once, so
the Arrow schemas and the data dictionary read the same names and labels.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import SQLModel

from schema.columns import field


class Validity(SQLModel):
    """Not a table: the validity columns every change, history and current row carries."""

    valid_from: date = field(
        "生效日期",
        "Beijing day from whose end this version is the project's state (a notice of the "
        "project was published, or received when published earlier, on that day).",
    )
    valid_to: date | None = field(
        "失效日期",
        "Beijing day the next version took over (exclusive); empty while current.",
        default=None,
    )
