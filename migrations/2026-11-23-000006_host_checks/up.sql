-- The latest result of `outpost harden --check/--apply` for each control, for the
-- dashboard. Every run is also in the audit log.
CREATE TABLE host_checks (
    control    text PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('ok', 'drift', 'error')),
    drift      jsonb NOT NULL DEFAULT '[]'::jsonb,
    error      text,
    -- The root the run acted on: `/` on the server itself.
    root       text NOT NULL DEFAULT '/',
    checked_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz
);
