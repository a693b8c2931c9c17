DROP TABLE audit_events;
DROP TABLE setup_links;
DROP TABLE sessions;
DROP TABLE users;
