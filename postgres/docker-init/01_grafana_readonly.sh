#!/bin/bash
# Grafana's read-only PostgreSQL role (DESIGN.md §9). Not a migration: the postgres image runs this once,
# from /docker-entrypoint-initdb.d, when it initialises an empty data volume (see docker-compose.yml).
# A shell script rather than .sql so the password comes from GRAFANA_PG_PASSWORD instead of the file.
set -euo pipefail

: "${GRAFANA_PG_PASSWORD:?GRAFANA_PG_PASSWORD must be set for the postgres service}"

# psql variables (:'ro_password', :"owner") quote the values, so any password is safe here.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=ro_password="$GRAFANA_PG_PASSWORD" --set=owner="$POSTGRES_USER" --set=db="$POSTGRES_DB" <<'SQL'
CREATE ROLE grafana_ro LOGIN PASSWORD :'ro_password';
-- Defence in depth only (a client may SET it back): the grants below are what keep the role read-only.
ALTER ROLE grafana_ro SET default_transaction_read_only = on;
ALTER ROLE grafana_ro SET statement_timeout = '60s';

GRANT CONNECT ON DATABASE :"db" TO grafana_ro;
GRANT USAGE ON SCHEMA public TO grafana_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_ro;
-- The server creates its tables later (migrations at start), as the owner role: grant on those too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO grafana_ro;
SQL
