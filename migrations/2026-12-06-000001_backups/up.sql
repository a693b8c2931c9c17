-- Every backup run, scheduled or not, with its outcome: a run is recorded when it
-- starts, so one that never finishes (a crash, a kill) shows as `running` with no end
-- until the next start marks it `interrupted`.
CREATE TABLE backup_runs (
    id              uuid PRIMARY KEY,
    target          text NOT NULL,
    -- What started it: a schedule tier, a person, or a restore's safety copy.
    trigger         text NOT NULL CHECK (trigger IN ('daily', 'weekly', 'monthly', 'manual', 'safety')),
    -- Started at boot for a scheduled run the server missed while it was down.
    catch_up        boolean NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    outcome         text NOT NULL DEFAULT 'running'
                    CHECK (outcome IN ('running', 'complete', 'failed', 'interrupted')),
    stored_bytes    bigint,
    plaintext_bytes bigint,
    error           text,
    -- The manifest as written (verified), for the dashboard and `backup list`.
    manifest        jsonb,
    pruned_at       timestamptz
);
CREATE INDEX backup_runs_started ON backup_runs (started_at DESC);

-- Restore drills: a backup downloaded, verified, decrypted and restored into a scratch
-- database, its tables compared with the source.
CREATE TABLE backup_drills (
    id          bigserial PRIMARY KEY,
    backup_id   uuid NOT NULL,
    target      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'passed', 'failed')),
    -- Per table: rows in the backup's source and in the restore, sample checksums.
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    error       text
);
CREATE INDEX backup_drills_backup ON backup_drills (backup_id, started_at DESC);

-- Problems that need a person: raised by the system, shown red on the dashboard,
-- notified once when raised, resolved when the condition clears. One open alert per key.
CREATE TABLE alerts (
    id           bigserial PRIMARY KEY,
    key          text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('warning', 'critical')),
    summary      text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    raised_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    occurrences  integer NOT NULL DEFAULT 1,
    notified_at  timestamptz,
    resolved_at  timestamptz
);
CREATE UNIQUE INDEX alerts_one_open_per_key ON alerts (key) WHERE resolved_at IS NULL;
