DROP TABLE alerts;
DROP TABLE backup_drills;
DROP TABLE backup_runs;
