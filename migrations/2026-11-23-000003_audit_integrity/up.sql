-- The tamper-evident audit log: every entry is authenticated by the server and becomes
-- a leaf of an RFC 6962 Merkle tree whose roots are signed in checkpoints.

ALTER TABLE audit_events
    -- Which configuration was in force (a digest of it).
    ADD COLUMN policy_version text,
    -- HMAC-SHA256 of the entry's canonical bytes under a key kept outside the database:
    -- an entry inserted by anyone but the server does not carry a valid one.
    ADD COLUMN mac bytea CHECK (mac IS NULL OR length(mac) = 32),
    -- The writing transaction. Entries are taken into the tree only once every
    -- transaction that could still add an earlier one has ended (see audit::log).
    ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_tx_id_idx ON audit_events (tx_id, id);

-- The log's order: leaf i of the tree is the entry event_id.
CREATE TABLE audit_leaves (
    leaf_index    bigint PRIMARY KEY CHECK (leaf_index >= 0),
    event_id      bigint NOT NULL UNIQUE REFERENCES audit_events (id),
    leaf_hash     bytea NOT NULL CHECK (length(leaf_hash) = 32),
    integrated_at timestamptz NOT NULL DEFAULT now()
);

-- Signed tree heads (C2SP tlog-checkpoint notes), oldest first.
CREATE TABLE audit_checkpoints (
    id         bigserial PRIMARY KEY,
    tree_size  bigint NOT NULL CHECK (tree_size >= 0),
    root_hash  bytea NOT NULL CHECK (length(root_hash) = 32),
    note       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The outcome of each verification pass (scheduled, or `outpost audit verify`).
CREATE TABLE audit_verifications (
    id          bigserial PRIMARY KEY,
    ran_at      timestamptz NOT NULL DEFAULT now(),
    entries     bigint NOT NULL,
    checkpoints bigint NOT NULL,
    pending     bigint NOT NULL,
    clean       boolean NOT NULL,
    problems    jsonb NOT NULL
);

-- Append-only, enforced twice: by privileges, and by triggers that fire for every
-- role, the tables' owner included.
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_verifications_append_only BEFORE UPDATE OR DELETE ON audit_verifications
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_leaves, audit_checkpoints, audit_verifications FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_leaves, audit_checkpoints, audit_verifications FROM CURRENT_USER;
