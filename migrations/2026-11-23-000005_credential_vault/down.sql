ALTER TABLE sessions DROP COLUMN reauthenticated_at;
DROP TABLE stored_credentials;
DROP TABLE vault_keks;
