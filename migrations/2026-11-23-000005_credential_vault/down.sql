ALTER TABLE sessions DROP COLUMN reauthenticated_at;
DROP TABLE stored_credentials;
DO $$
DECLARE kek integer;
BEGIN
    FOR kek IN SELECT id FROM vault_keks LOOP
        EXECUTE format('DROP SEQUENCE IF EXISTS vault_wraps_k%s', kek);
    END LOOP;
END
$$;
DROP TABLE vault_keks;
