-- Grafana's read-only PostgreSQL role `grafana_ro` (issue 13, DESIGN.md §9): exactly the columns the dashboards
-- read, nothing else. Run with psql, as a superuser (or the owner of the benchlab tables), on the benchlab database:
--
--   psql -v ON_ERROR_STOP=1 --no-psqlrc -d benchlab -v ro_password='...' -f postgres/grafana_readonly.sql
--
-- docker-compose.yml runs it through postgres/docker-init/01_grafana_readonly.sh (password from
-- GRAFANA_PG_PASSWORD) when the postgres volume is first initialised; tests/test_grafana_roles.py runs the same
-- script on the embedded PostgreSQL. Idempotent: every run sets the password, takes away whatever grafana_ro was
-- given before (table, column, schema, function and default privileges, role memberships) and grants the list
-- below again, so running it after an upgrade or a password change leaves exactly this list.
--
-- Why column GRANTs on the tables and not views in a `grafana` schema: a column privilege is tied to the column,
-- so a column or table added later by a migration is unreadable until it is added here (there are deliberately
-- no default privileges), while the dashboards' SQL names the same tables the server and the tests use. Views
-- would be a second schema to migrate with every table change, and a view's owner privileges (not the reader's)
-- apply through it, so a careless `SELECT *` view would silently expose new columns.
-- Not readable, by design: users (emails), user_identities, refresh_tokens, login_links, api_keys, audit_log,
-- providers (credentials_encrypted), models, datasets and prompts (content), judge_verdicts (answers), the
-- free-text and actor columns of runs/scoring_passes/baselines (error, owner, config_snapshot, created_by,
-- set_by: an email), schema_migrations.

\set ON_ERROR_STOP on
\if :{?ro_password}
\else
    \echo 'grafana_readonly.sql: pass the password with -v ro_password=...'
    DO $$ BEGIN RAISE EXCEPTION 'grafana_readonly.sql needs the psql variable ro_password'; END $$;
\endif
SELECT :'ro_password' = '' AS grafana_ro_password_empty \gset
\if :grafana_ro_password_empty
    DO $$ BEGIN RAISE EXCEPTION 'grafana_readonly.sql: ro_password must not be empty'; END $$;
\endif

BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'grafana_ro') THEN
        CREATE ROLE grafana_ro;
    END IF;
END
$$;

-- A plain login: no attribute that bypasses privileges, no inherited ones, a bounded number of connections
-- (the datasource opens at most 10).
ALTER ROLE grafana_ro WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 20 PASSWORD :'ro_password';
-- Defence in depth only (a client may SET them back): the privileges below are what keep the role read-only.
ALTER ROLE grafana_ro SET default_transaction_read_only = on;
ALTER ROLE grafana_ro SET statement_timeout = '60s';
ALTER ROLE grafana_ro SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE grafana_ro SET search_path = public;

-- Start from nothing: whatever an earlier version of this file (`GRANT SELECT ON ALL TABLES`, default
-- privileges) or an operator gave grafana_ro in this database, and every role it is a member of
-- (pg_read_all_data would read everything).
DO $$
DECLARE
    ro  oid := 'grafana_ro'::regrole;
    rec record;
BEGIN
    FOR rec IN
        SELECT m.roleid::regrole AS granted, m.grantor::regrole AS grantor
        FROM pg_catalog.pg_auth_members m WHERE m.member = ro
    LOOP
        EXECUTE format('REVOKE %s FROM grafana_ro GRANTED BY %s CASCADE', rec.granted, rec.grantor);
    END LOOP;

    FOR rec IN
        SELECT DISTINCT c.oid::regclass AS rel
        FROM pg_catalog.pg_class c
        LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attacl IS NOT NULL
        WHERE ro IN (SELECT grantee FROM aclexplode(c.relacl))
           OR ro IN (SELECT grantee FROM aclexplode(a.attacl))
    LOOP
        -- Revoking on a table also revokes its column privileges.
        EXECUTE format('REVOKE ALL ON TABLE %s FROM grafana_ro CASCADE', rec.rel);
    END LOOP;

    FOR rec IN
        SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE ro IN (SELECT grantee FROM aclexplode(n.nspacl))
    LOOP
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM grafana_ro CASCADE', rec.nspname);
    END LOOP;

    FOR rec IN
        SELECT p.oid::regprocedure AS proc, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
        FROM pg_catalog.pg_proc p WHERE ro IN (SELECT grantee FROM aclexplode(p.proacl))
    LOOP
        EXECUTE format('REVOKE ALL ON %s %s FROM grafana_ro CASCADE', rec.kind, rec.proc);
    END LOOP;

    -- Default privileges that would hand grafana_ro (or everyone) each new table, sequence, function, ...
    FOR rec IN
        SELECT d.defaclrole::regrole AS owner, d.defaclnamespace, e.grantee,
               CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                                    WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' WHEN 'L' THEN 'LARGE OBJECTS'
               END AS objects
        FROM pg_catalog.pg_default_acl d, aclexplode(d.defaclacl) e
        WHERE e.grantee = ro OR (e.grantee = 0 AND d.defaclobjtype IN ('r', 'S'))
    LOOP
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s %s REVOKE ALL ON %s FROM %s',
                       rec.owner,
                       CASE WHEN rec.defaclnamespace = 0 THEN ''
                            ELSE format('IN SCHEMA %s', rec.defaclnamespace::regnamespace) END,
                       rec.objects,
                       CASE WHEN rec.grantee = 0 THEN 'PUBLIC' ELSE 'grafana_ro' END);
    END LOOP;

    -- This database: connect, nothing more. PUBLIC's TEMPORARY would let the role create (temporary) tables;
    -- the server needs none and the owner keeps it.
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM grafana_ro', current_database());
    EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO grafana_ro', current_database());
END
$$;

-- What PUBLIC (every role, grafana_ro included) could otherwise get here: CREATE in the public schema (the
-- default before PostgreSQL 15, and on databases upgraded from one) and any table privilege an operator gave it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO grafana_ro;

-- The dashboards' variables (project, experiment, run, baseline/candidate) and run tables. Keep this list and
-- GRANTED_COLUMNS in tests/test_grafana_roles.py the same.
GRANT SELECT (id, slug, name, archived_at) ON projects TO grafana_ro;
GRANT SELECT (id, project_id, name, created_at, updated_at, archived_at) ON experiments TO grafana_ro;
GRANT SELECT (id, project_id, experiment_id, status, planned_requests, completed_requests, failed_requests,
              client_saturated, created_at, started_at, finished_at, gate_status, summary) ON runs TO grafana_ro;
GRANT SELECT (id, project_id, run_id, status, total_requests, scored_requests, judge_calls, judge_cached,
              judge_errors, judge_cost_usd, summary, created_at, finished_at) ON scoring_passes TO grafana_ro;
GRANT SELECT (experiment_id, name, run_id) ON baselines TO grafana_ro;

COMMIT;
