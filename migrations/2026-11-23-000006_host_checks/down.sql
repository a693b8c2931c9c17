DROP TABLE host_checks;
