REVOKE DELETE ON audit_events FROM CURRENT_USER;
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
ALTER TABLE audit_leaves ADD CONSTRAINT audit_leaves_event_id_fkey FOREIGN KEY (event_id) REFERENCES audit_events (id);
DROP TABLE audit_compactions;
