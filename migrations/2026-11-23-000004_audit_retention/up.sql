-- Retention: entries past their retention period may be archived and removed, but only
-- below the cut of a signed compaction record. Their leaf hashes stay, so the tree and
-- every checkpoint still verify.

CREATE TABLE audit_compactions (
    id             bigserial PRIMARY KEY,
    -- Entries at positions below this may be gone.
    up_to_leaf     bigint NOT NULL CHECK (up_to_leaf >= 0),
    archive_sha256 bytea NOT NULL CHECK (length(archive_sha256) = 32),
    -- A statement signed with the checkpoint key: what was cut, and the archive's hash.
    note           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_compactions_append_only BEFORE UPDATE OR DELETE ON audit_compactions
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_compactions_no_truncate BEFORE TRUNCATE ON audit_compactions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_compactions FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_compactions FROM CURRENT_USER;

-- Leaves outlive the entries they stand for once those are archived.
ALTER TABLE audit_leaves DROP CONSTRAINT audit_leaves_event_id_fkey;

-- The one deletion the log allows: an entry below a compaction's cut.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Nested, because a condition naming OLD.id is planned as a whole and the other
    -- audit tables have no such column.
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events' THEN
        IF EXISTS (
            SELECT 1 FROM audit_leaves l
            WHERE l.event_id = OLD.id
              AND l.leaf_index < (SELECT COALESCE(max(up_to_leaf), 0) FROM audit_compactions)
        ) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
GRANT DELETE ON audit_events TO CURRENT_USER;
