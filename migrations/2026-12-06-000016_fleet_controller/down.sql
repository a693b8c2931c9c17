DROP TABLE fleet_alerts;
DROP TABLE fleet_report_ids;
DROP TABLE fleet_heartbeat_rollups;
DROP TABLE fleet_heartbeats;
DROP TABLE fleet_satellites;
DROP TABLE fleet_enrolment_tokens;
