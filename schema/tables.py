"""Every table, imported in one place so metadata and migrations see them all."""

from sqlmodel import SQLModel

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

metadata = SQLModel.metadata

__all__ = [
    "Award",
    "AwardSupplier",
    "Contract",
    "ContractSupplier",
    "DataQualityIssue",
    "DataVersion",
    "EvaluationExpert",
    "Flag",
    "Ingestion",
    "Lot",
    "Notice",
    "NoticeSource",
    "Party",
    "PartyRoleLink",
    "PenaltyRecord",
    "Project",
    "ProjectItem",
    "Publisher",
    "SearchOutbox",
    "SearchState",
    "Transaction",
    "metadata",
]
