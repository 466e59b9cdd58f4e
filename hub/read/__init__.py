"""The read layer: one way to read each fact, shared by GraphQL and the pages."""
