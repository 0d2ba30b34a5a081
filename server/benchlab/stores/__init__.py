"""The stores: PostgreSQL for entities, ClickHouse for events, and their migrations."""
