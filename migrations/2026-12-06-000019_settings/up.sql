-- Settings changed on the dashboard, layered over the config file: one row per key.
-- A key without a row takes its value from the file (or the environment).
CREATE TABLE settings (
    id           uuid PRIMARY KEY,
    -- The config key, e.g. `smtp.port`.
    key          text NOT NULL UNIQUE,
    -- The value as JSON; NULL for a secret, which is in `value_sealed`.
    value        jsonb,
    -- A secret's value (the SMTP password, a Slack webhook URL), sealed by the vault
    -- (bound to `settings.value_sealed:<id>`).
    value_sealed text,
    changed_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((value IS NULL) <> (value_sealed IS NULL))
);
