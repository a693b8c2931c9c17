DROP TABLE finding_episodes;
DROP TABLE scans;
DROP TABLE findings;
