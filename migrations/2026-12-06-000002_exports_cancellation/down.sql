DROP TABLE cancellations;
DROP TABLE exports;
