DROP TABLE harden_requests;
