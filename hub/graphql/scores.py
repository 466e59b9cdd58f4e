"""Transparency scores in the graph: rankings and monthly series (formulas: schema.transparency)."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import strawberry

from hub.graphql.catalogue_types import catalogue_type
from hub.graphql.common import REGION_NAME_HELP, Info, region_name
from hub.graphql.errors import BadUserInput
from hub.graphql.filters import Direction
from hub.graphql.nodes import PARTY, PartyRef
from hub.read.where import party_pk
from schema.codes import is_region_code
from schema.transparency import Group, Scope, ScoreCounts, ranking, score_row, trend

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MAX_ROWS = 100
ScoreFields = catalogue_type("transparency_scores", "TransparencyScore", private=("party_id",))


@strawberry.enum(description="Whose disclosure is scored.")
class ScoreGroup(Enum):
    PURCHASER = "purchaser_id"
    AGENCY = "agency_id"
    REGION = "region_code"


@strawberry.type(
    description="透明度评价 (formulas in the README, Supervision); in a ranking, `month` is null "
    "and the counts are those of the whole range."
)
class TransparencyScore(ScoreFields):  # type: ignore[misc,valid-type]
    rank: int | None = strawberry.field(
        default=None, description="名次: 1 is the best score (ties share); null in a series."
    )

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)

    @strawberry.field(description="The purchaser or agency scored, grouping by party.")
    async def party(self, info: Info) -> PartyRef | None:
        if self.party_id is None:
            return None
        return PARTY.maybe(await info.context.loaders.party.load(self.party_id))


def _month(value: str | None, name: str) -> str | None:
    if value is not None and not MONTH.fullmatch(value):
        raise BadUserInput(f"`{name}` takes a month as YYYY-MM, not {value!r}")
    return value


def _region(value: str | None) -> str | None:
    if value is not None and not is_region_code(value):
        raise BadUserInput(f"regionCode {value!r} is not a six-digit division code")
    return value


def _score(
    counts: ScoreCounts, group: ScoreGroup, key: Any, month: str | None, rank: int | None
) -> TransparencyScore:
    score = object.__new__(TransparencyScore)  # as from_row: plain attributes, no __init__
    score.__dict__.update(score_row(counts, group.name.lower(), key, month), rank=rank)
    return score


def transparency_scores(
    info: Info, group_by: ScoreGroup, month_from: str | None, month_to: str | None,
    region_code: str | None, direction: Direction, first: int, min_projects: int,
) -> list[TransparencyScore]:  # fmt: skip
    if not 0 <= first <= MAX_ROWS:
        raise BadUserInput(f"`first` must be between 0 and {MAX_ROWS}")
    scope = Scope(Group(group_by.value), _month(month_from, "from"), _month(month_to, "to"),
                  region_code=_region(region_code))  # fmt: skip
    ranked = ranking(info.context.conn, scope, descending=direction is Direction.DESC,
                     limit=first, min_projects=min_projects)  # fmt: skip
    return [_score(r.counts, group_by, r.key, None, r.rank) for r in ranked]


def transparency_trend(
    info: Info, group_by: ScoreGroup, entity_id: strawberry.ID | None, region_code: str | None,
    month_from: str | None, month_to: str | None,
) -> list[TransparencyScore]:  # fmt: skip
    months = (_month(month_from, "from"), _month(month_to, "to"))
    if (entity_id is None) == (region_code is None):
        raise BadUserInput("give `entityId` (a purchaser or agency) or `regionCode`, not both")
    if entity_id is not None:
        if group_by is ScoreGroup.REGION:
            raise BadUserInput("`entityId` takes groupBy PURCHASER or AGENCY")
        key: Any = party_pk(entity_id, "entityId")
        scope = Scope(Group(group_by.value), *months, key=key)
    else:
        key, group_by = _region(region_code), ScoreGroup.REGION
        scope = Scope(Group.REGION, *months, region_code=key, as_one=True)
    return [_score(c, group_by, key, m, None) for m, c in trend(info.context.conn, scope)]
