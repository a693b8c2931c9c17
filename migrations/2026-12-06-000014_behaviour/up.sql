-- API responses per minute and status class (`2xx`, `401`, `403`, `4xx`, `5xx`,
-- `other`), flushed from the server's in-memory counters: the baseline that error
-- bursts are measured against.
CREATE TABLE api_responses (
    minute    timestamptz NOT NULL,
    class     text NOT NULL CHECK (class IN ('2xx', '401', '403', '4xx', '5xx', 'other')),
    responses bigint NOT NULL CHECK (responses >= 0),
    PRIMARY KEY (minute, class)
);

-- The networks each API key has been used from (/24 for IPv4, /64 for IPv6). `uses`
-- counts the minutes it was seen there (a busy key is recorded at most once a minute).
CREATE TABLE api_key_networks (
    key_id     uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    network    text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    uses       bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (key_id, network)
);

-- What each member and API key could do at the last scan (`member:<id>` holds its
-- role, `api_key:<id>` its capabilities), and the last time that grew: the memory of
-- the capability-creep check.
CREATE TABLE access_snapshots (
    subject    text PRIMARY KEY,
    grants     text[] NOT NULL,
    taken_at   timestamptz NOT NULL,
    grew_from  text[],
    grew_at    timestamptz
);
