"""The GraphQL API: one graph of projects, parties, contracts, penalties and transactions."""
