-- Requests from the unprivileged service to the root timer (outpost-harden-queue) to
-- re-apply one hardening control to the root-owned baseline. The service can only
-- name a control; what "applied" means comes from root's own configuration.
CREATE TABLE harden_requests (
    id           uuid PRIMARY KEY,
    control      text NOT NULL,
    -- `scan` (the security loop's remedy for drift) or `member:<id>`.
    requested_by text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    finished_at  timestamptz,
    -- `applied`, `failed` or `unknown_control`.
    outcome      text CHECK (outcome IN ('applied', 'failed', 'unknown_control')),
    error        text
);
-- At most one waiting request per control: asking again while it waits is a no-op.
CREATE UNIQUE INDEX harden_requests_one_pending ON harden_requests (control) WHERE finished_at IS NULL;
CREATE INDEX harden_requests_recent ON harden_requests (control, requested_at DESC);
