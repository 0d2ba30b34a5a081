-- Sign-in (DESIGN.md §7): which identity-provider account is which user, the sessions users hold, and the
-- one-time links of local mode. Tokens are never stored: only their SHA-256 (they carry 256 random bits,
-- so a slow password hash would add nothing).

-- An account at an OpenID Connect provider, matched by (issuer, subject) and never by email: an email can
-- change or be reused, the subject cannot.
CREATE TABLE user_identities (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text        NOT NULL,  -- the configured name at the last sign-in (informational)
    issuer        text        NOT NULL,
    subject       text        NOT NULL,
    email         text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- Rotating refresh tokens. One sign-in starts a family (its id is the session id, `sid` in access tokens);
-- each refresh marks the presented token used and adds its successor to the family. Presenting a used or
-- revoked token means it was copied: the whole family is revoked.
CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Local mode (no identity provider, loopback only): the one-time sign-in link `benchlab serve` prints.
CREATE TABLE login_links (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
