"""The read planner: a validated GraphQL operation compiled to one SQL statement per root
field that builds the answer's JSON in the database (see hub/read/plan/README.md)."""
