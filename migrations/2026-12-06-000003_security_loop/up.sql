-- The security loop. A finding is one problem with one subject, identified by a stable
-- fingerprint (check + subject): seen again, it is the same finding; gone, it is
-- resolved; back, it is reopened.
CREATE TABLE findings (
    fingerprint text PRIMARY KEY,
    check_id    text NOT NULL,
    subject     text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    title       text NOT NULL,
    -- Redacted: never a secret, only where and what kind.
    evidence    text NOT NULL DEFAULT '',
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    resolved_at timestamptz,
    -- Resolved by a remedy Outpost applied itself.
    auto_fixed  boolean NOT NULL DEFAULT false,
    reopened    integer NOT NULL DEFAULT 0
);
CREATE INDEX findings_open ON findings (severity) WHERE resolved_at IS NULL;

-- Each time a finding was open, from when to when: what mean time to resolution and
-- the auto-fix rate are computed from (a reopened finding starts a new episode).
CREATE TABLE finding_episodes (
    id          bigserial PRIMARY KEY,
    fingerprint text NOT NULL REFERENCES findings (fingerprint) ON DELETE CASCADE,
    severity    text NOT NULL,
    opened_at   timestamptz NOT NULL,
    resolved_at timestamptz,
    auto_fixed  boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX finding_episodes_one_open ON finding_episodes (fingerprint) WHERE resolved_at IS NULL;

-- Every scan: when, why, how long, each check's status, and the open findings by
-- severity after it (the trend the dashboard draws).
CREATE TABLE scans (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    -- `nightly`, `manual`, `deploy` (a new version's first start), `backup_failed`.
    trigger     text NOT NULL,
    outpost_version text NOT NULL,
    checks      jsonb NOT NULL,
    open_by_severity jsonb NOT NULL
);
CREATE INDEX scans_started ON scans (started_at DESC);
