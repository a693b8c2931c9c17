-- The client's outbound webhooks: where events go, and every message sent to them.
CREATE TABLE webhook_endpoints (
    id            uuid PRIMARY KEY,
    url           text NOT NULL,
    description   text NOT NULL DEFAULT '',
    -- Event types this endpoint receives, e.g. {backup.failed,finding.opened}.
    events        text[] NOT NULL,
    -- The signing secret, sealed by the vault (bound to `webhook_endpoints.secret_sealed:<id>`).
    secret_sealed text NOT NULL,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The outbox and the delivery log in one: a row is written in the transaction of the
-- change it tells about, and the delivery worker sends it (and retries) from here.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    -- The `webhook-id` header: the same on every attempt, so receivers can drop repeats.
    message_id      text NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (endpoint_id, created_at DESC);
