-- Accounts, server-side sessions, one-time setup links and the audit trail.

CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    -- NULL until the person sets a password through their setup link.
    password_hash       text,
    role                text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_ci_key ON users (lower(email));

CREATE TABLE sessions (
    -- SHA-256 of the cookie token: a copy of this table cannot be replayed as cookies.
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- Absolute end of the session, fixed at sign-in.
    expires_at   timestamptz NOT NULL,
    client_ip    text,
    user_agent   text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE setup_links (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX setup_links_user_id_idx ON setup_links (user_id);

CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    -- "user:<uuid>", "cli", "system"
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    source_ip   text,
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
