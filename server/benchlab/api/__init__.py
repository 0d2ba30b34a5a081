"""The GraphQL API (DESIGN.md §6): schema, resolvers, errors and the ASGI endpoint."""
