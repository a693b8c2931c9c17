-- This server's enrolment with the operators' fleet controller: its satellite id and
-- the secret its health reports are signed with (sealed by the vault). One row at
-- most: enrolling again replaces it.
CREATE TABLE fleet_enrolment (
    satellite_id   uuid PRIMARY KEY,
    controller_url text NOT NULL,
    secret_sealed  text NOT NULL,
    -- Seconds between reports the controller expects.
    interval_secs  bigint NOT NULL,
    enrolled_at    timestamptz NOT NULL,
    only_one       boolean NOT NULL DEFAULT true UNIQUE CHECK (only_one)
);
