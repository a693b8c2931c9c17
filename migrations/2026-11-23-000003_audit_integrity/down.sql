DROP TABLE audit_verifications;
DROP TABLE audit_checkpoints;
DROP TABLE audit_leaves;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP TRIGGER audit_events_no_truncate ON audit_events;
DROP FUNCTION audit_refuse_change();
ALTER TABLE audit_events DROP COLUMN tx_id, DROP COLUMN mac, DROP COLUMN policy_version;
GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO CURRENT_USER;
