-- Key-encryption keys the vault has used. The keys themselves live only in the keyring
-- file; the database keeps each one's fingerprint (to tell a keyring that does not
-- belong to it) and when it was retired. How many data keys each has wrapped (AES-GCM
-- with random nonces allows at most 2^32 encryptions per key, NIST SP 800-38D) is
-- counted by a sequence per KEK, `vault_wraps_k<id>`: sequences never roll back and
-- never contend, and after a crash they only ever over-count.
CREATE TABLE vault_keks (
    id          integer PRIMARY KEY CHECK (id > 0),
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

-- Credentials clients keep here: the value only sealed (bound to its row), the rest
-- metadata anyone allowed to list them may see.
CREATE TABLE stored_credentials (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind              text NOT NULL CHECK (kind IN ('oauth_token', 'api_key', 'password',
                          'webhook_secret', 'smtp_password', 'storage_key', 'other')),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    value_sealed      text NOT NULL,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- When the value last changed: a credential's age runs from here.
    replaced_at       timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    rotate_every_days integer CHECK (rotate_every_days BETWEEN 1 AND 3650),
    last_revealed_at  timestamptz,
    last_revealed_by  uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX stored_credentials_name_key ON stored_credentials (lower(name));

-- When the session's person last re-entered their password or a two-factor code:
-- revealing a stored credential needs that within the last five minutes.
ALTER TABLE sessions ADD COLUMN reauthenticated_at timestamptz;
