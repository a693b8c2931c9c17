DROP TABLE access_snapshots;
DROP TABLE api_key_networks;
DROP TABLE api_responses;
