-- Run once by the postgres image on an empty data volume (docker-compose.yml mounts it in
-- /docker-entrypoint-initdb.d): one database per service, as in DESIGN.md §1.
CREATE DATABASE registration;
CREATE DATABASE projects;
CREATE DATABASE network;
CREATE DATABASE dashboard;
