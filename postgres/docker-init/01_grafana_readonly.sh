#!/bin/bash
# Grafana's read-only PostgreSQL role (DESIGN.md §9): runs postgres/grafana_readonly.sql, which holds the grants.
# Not a migration: the postgres image runs this once, from /docker-entrypoint-initdb.d, when it initialises an
# empty data volume (see docker-compose.yml). A shell script rather than the .sql itself so the password comes
# from GRAFANA_PG_PASSWORD instead of the file. The SQL is idempotent, so this also re-applies the grants and
# the password on a running stack:
#   docker compose exec postgres /docker-entrypoint-initdb.d/01_grafana_readonly.sh
# tests/test_grafana_roles.py runs this very script against the embedded PostgreSQL.
set -euo pipefail

: "${GRAFANA_PG_PASSWORD:?GRAFANA_PG_PASSWORD must be set for the postgres service}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
# Mounted outside /docker-entrypoint-initdb.d on purpose: the image would run a .sql there without the password.
sql_file="${GRAFANA_READONLY_SQL:-/opt/benchlab/postgres/grafana_readonly.sql}"

# The psql variable is quoted by the SQL (:'ro_password'), so any password is safe here.
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
     --set=ro_password="$GRAFANA_PG_PASSWORD" --file "$sql_file"
