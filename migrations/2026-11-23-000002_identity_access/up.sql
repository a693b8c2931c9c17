-- MFA, team membership, API keys, throttling and the organisation's security policy.

-- Sessions get a public id (for listing and revoking) that is not the secret token.
ALTER TABLE sessions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX sessions_id_key ON sessions (id);

-- One row: the organisation's security policy, editable by Owners.
CREATE TABLE org_policy (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mfa_required_roles text[] NOT NULL DEFAULT '{owner,admin}',
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         uuid REFERENCES users (id) ON DELETE SET NULL
);
INSERT INTO org_policy DEFAULT VALUES;

-- TOTP (RFC 6238). The secret is sealed; `last_step` is the last accepted time step,
-- so a code (or any older one) can never be used twice.
CREATE TABLE totp_credentials (
    user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL while enrolment waits for the first valid code.
    confirmed_at  timestamptz,
    last_step     bigint
);

CREATE TABLE recovery_codes (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the normalised code: the codes carry 80 random bits.
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

-- The half-way state between a correct password and a correct second factor.
CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0
);

CREATE TABLE invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    invited_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- NULL while a privileged invitation waits for an Owner's approval.
    approved_at timestamptz,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX invitations_email_idx ON invitations (lower(email));

-- Raising someone to Owner or Admin (a member or an invitation) needs a second Owner.
CREATE TABLE role_grants (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    invitation_id uuid REFERENCES invitations (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('owner', 'admin')),
    requested_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
    decided_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at    timestamptz,
    CHECK ((user_id IS NULL) <> (invitation_id IS NULL))
);
CREATE INDEX role_grants_pending_idx ON role_grants (status) WHERE status = 'pending';

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown so people can tell keys apart.
    display_prefix text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    capabilities  text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    last_used_ip  text,
    revoked_at    timestamptz,
    -- Set on the old key when it is rotated; it keeps working until its expires_at.
    replaced_by   uuid REFERENCES api_keys (id) ON DELETE SET NULL
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

-- Exponential back-off state per sign-in subject ("ip:203.0.113.9", "account:a@b.c").
CREATE TABLE login_throttle (
    subject         text PRIMARY KEY,
    failures        integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL,
    blocked_until   timestamptz
);
