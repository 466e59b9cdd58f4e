"""Every table, imported in one place so metadata and migrations see them all.

Below the models, one typed `Table` constant per table, named after the SQL table: code
that writes SQL Core imports these rather than reaching for `Model.__table__`.
"""

from typing import Final

from sqlalchemy import Table
from sqlmodel import SQLModel

from schema.changes import Change, MirrorCursor
from schema.columns import table_of
from schema.data_version import DataVersion
from schema.details import EvaluationExpert, ProjectItem
from schema.flags import Flag
from schema.parties import Party, PartyRoleLink, Publisher
from schema.projects import (
    Award,
    AwardSupplier,
    Contract,
    ContractSupplier,
    Lot,
    Notice,
    NoticeSource,
    Project,
)
from schema.records import DataQualityIssue, Ingestion, PenaltyRecord, Transaction
from schema.search_outbox import SearchOutbox, SearchState
from schema.sources import RecordSource
from schema.upstreams import PushParked, Upstream

metadata = SQLModel.metadata

AWARD_SUPPLIERS: Final[Table] = table_of(AwardSupplier)
CHANGES: Final[Table] = table_of(Change)
AWARDS: Final[Table] = table_of(Award)
CONTRACT_SUPPLIERS: Final[Table] = table_of(ContractSupplier)
CONTRACTS: Final[Table] = table_of(Contract)
DATA_QUALITY_ISSUES: Final[Table] = table_of(DataQualityIssue)
DATA_VERSION: Final[Table] = table_of(DataVersion)
EVALUATION_EXPERTS: Final[Table] = table_of(EvaluationExpert)
FLAGS: Final[Table] = table_of(Flag)
INGESTIONS: Final[Table] = table_of(Ingestion)
LOTS: Final[Table] = table_of(Lot)
MIRROR_CURSORS: Final[Table] = table_of(MirrorCursor)
NOTICE_SOURCES: Final[Table] = table_of(NoticeSource)
NOTICES: Final[Table] = table_of(Notice)
PARTIES: Final[Table] = table_of(Party)
PARTY_ROLES: Final[Table] = table_of(PartyRoleLink)
PENALTY_RECORDS: Final[Table] = table_of(PenaltyRecord)
PROJECT_ITEMS: Final[Table] = table_of(ProjectItem)
PROJECTS: Final[Table] = table_of(Project)
PUBLISHERS: Final[Table] = table_of(Publisher)
PUSH_PARKED: Final[Table] = table_of(PushParked)
RECORD_SOURCES: Final[Table] = table_of(RecordSource)
SEARCH_OUTBOX: Final[Table] = table_of(SearchOutbox)
SEARCH_STATE: Final[Table] = table_of(SearchState)
TRANSACTIONS: Final[Table] = table_of(Transaction)
UPSTREAMS: Final[Table] = table_of(Upstream)

__all__ = [
    "AWARDS",
    "AWARD_SUPPLIERS",
    "CHANGES",
    "CONTRACTS",
    "CONTRACT_SUPPLIERS",
    "DATA_QUALITY_ISSUES",
    "DATA_VERSION",
    "EVALUATION_EXPERTS",
    "FLAGS",
    "INGESTIONS",
    "LOTS",
    "MIRROR_CURSORS",
    "NOTICES",
    "NOTICE_SOURCES",
    "PARTIES",
    "PARTY_ROLES",
    "PENALTY_RECORDS",
    "PROJECTS",
    "PROJECT_ITEMS",
    "PUBLISHERS",
    "PUSH_PARKED",
    "RECORD_SOURCES",
    "SEARCH_OUTBOX",
    "SEARCH_STATE",
    "TRANSACTIONS",
    "UPSTREAMS",
    "Award",
    "AwardSupplier",
    "Change",
    "Contract",
    "ContractSupplier",
    "DataQualityIssue",
    "DataVersion",
    "EvaluationExpert",
    "Flag",
    "Ingestion",
    "Lot",
    "MirrorCursor",
    "Notice",
    "NoticeSource",
    "Party",
    "PartyRoleLink",
    "PenaltyRecord",
    "Project",
    "ProjectItem",
    "Publisher",
    "RecordSource",
    "SearchOutbox",
    "SearchState",
    "Transaction",
    "metadata",
]
