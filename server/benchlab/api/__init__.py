"""The GraphQL API (docs/architecture.md §6): schema, resolvers, errors and the ASGI endpoint."""
