-- Exports prepared on the server (from the dashboard, the API, or at cancellation):
-- the tarball lives at <data_dir>/exports/<id>.tar; the row says whether it is ready.
-- A row is written before the export starts, so one interrupted by a crash shows as
-- `preparing` until the next start marks it failed.
CREATE TABLE exports (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL: prepared by the system when a cancellation took effect.
    requested_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'preparing'
                    CHECK (status IN ('preparing', 'ready', 'failed')),
    bytes           bigint,
    error           text,
    include_secrets boolean NOT NULL DEFAULT false,
    -- After this the file is removed and can no longer be downloaded.
    expires_at      timestamptz NOT NULL
);
CREATE INDEX exports_created ON exports (created_at DESC);

-- The end of the service for this client: at `effective_at` an export is prepared and
-- stays downloadable until `window_closes_at`, when the client's data is destroyed.
-- Kept after the destruction (it holds no client data): it is how the server knows
-- the destruction happened, alongside the audit entry.
CREATE TABLE cancellations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    requested_at     timestamptz NOT NULL DEFAULT now(),
    effective_at     timestamptz NOT NULL,
    window_closes_at timestamptz NOT NULL CHECK (window_closes_at > effective_at),
    revoked_at       timestamptz,
    export_id        uuid REFERENCES exports (id) ON DELETE SET NULL,
    destroyed_at     timestamptz
);
-- At most one cancellation is in force at a time.
CREATE UNIQUE INDEX cancellations_one_in_force ON cancellations ((true)) WHERE revoked_at IS NULL;
