#!/bin/sh
# Runs once, when the official postgres image initialises the primary's data directory:
# a replication role for the standbys, and the application's role and database.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v replication_password="$REPLICATION_PASSWORD" \
  -v app_user="$APP_USER" -v app_password="$APP_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'replication_password';
CREATE ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_user" OWNER :"app_user";
SQL

# The image's pg_hba.conf admits "all" databases from anywhere, which does not cover
# replication connections.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
