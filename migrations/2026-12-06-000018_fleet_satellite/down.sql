DROP TABLE fleet_enrolment;
