"""The service: publishing pipeline, command line, and (later) the GraphQL API."""
