-- The fleet controller's own state. The same migrations run on every server, so on a
-- satellite these tables simply stay empty.

-- One-time tokens an operator hands to a new satellite; only their SHA-256 is kept.
CREATE TABLE fleet_enrolment_tokens (
    id           uuid PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE,
    name         text NOT NULL,
    client       text NOT NULL,
    region       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    satellite_id uuid
);

CREATE TABLE fleet_satellites (
    id                uuid PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    client            text NOT NULL,
    region            text,
    provisioned_at    timestamptz NOT NULL DEFAULT now(),
    version           text NOT NULL,
    -- The satellite's signing secret (`whsec_…`), sealed by the vault to this row.
    secret_sealed     text NOT NULL,
    last_report_at    timestamptz,
    status            text NOT NULL DEFAULT 'online'
                      CHECK (status IN ('online', 'late', 'offline', 'maintenance')),
    maintenance_until timestamptz
);

-- Raw reports as received, with the figures the sweeper and charts read as columns.
CREATE TABLE fleet_heartbeats (
    id                 bigserial PRIMARY KEY,
    satellite_id       uuid NOT NULL REFERENCES fleet_satellites (id) ON DELETE CASCADE,
    report_id          uuid NOT NULL,
    taken_at           timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    cpu_percent        real NOT NULL,
    memory_percent     real NOT NULL,
    worst_disk_percent real NOT NULL,
    report             jsonb NOT NULL
);
CREATE INDEX fleet_heartbeats_latest ON fleet_heartbeats (satellite_id, received_at DESC);

-- Hourly averages and peaks, kept long after the raw reports are gone.
CREATE TABLE fleet_heartbeat_rollups (
    satellite_id uuid NOT NULL REFERENCES fleet_satellites (id) ON DELETE CASCADE,
    hour         timestamptz NOT NULL,
    samples      integer NOT NULL,
    cpu_avg      real NOT NULL,
    cpu_max      real NOT NULL,
    memory_avg   real NOT NULL,
    memory_max   real NOT NULL,
    disk_avg     real NOT NULL,
    disk_max     real NOT NULL,
    PRIMARY KEY (satellite_id, hour)
);

-- Report ids (`webhook-id`) seen recently: a replay inside the signature's window is
-- refused by these.
CREATE TABLE fleet_report_ids (
    report_id    uuid PRIMARY KEY,
    satellite_id uuid NOT NULL REFERENCES fleet_satellites (id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fleet_report_ids_age ON fleet_report_ids (received_at);

-- A problem of one satellite (`offline`, `disk`, …), open until it clears.
CREATE TABLE fleet_alerts (
    id               bigserial PRIMARY KEY,
    satellite_id     uuid NOT NULL REFERENCES fleet_satellites (id) ON DELETE CASCADE,
    rule             text NOT NULL,
    detail           text NOT NULL,
    opened_at        timestamptz NOT NULL,
    last_notified_at timestamptz,
    resolved_at      timestamptz
);
CREATE UNIQUE INDEX fleet_alerts_one_open ON fleet_alerts (satellite_id, rule) WHERE resolved_at IS NULL;
