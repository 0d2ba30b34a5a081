-- API keys for scripts and CI: scoped to one project and a role, shown once, stored as a SHA-256 hash.
-- A key is `blk_<prefix>_<secret>`: the prefix finds the row (indexed), the hash of the whole key proves it.
-- 256 random bits make a slow password hash pointless, so verification is one indexed lookup and one hash.

CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id   uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    prefix       text        NOT NULL UNIQUE,
    key_hash     text        NOT NULL,
    created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_project_idx ON api_keys (project_id, created_at DESC);
