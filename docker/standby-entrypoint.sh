#!/bin/sh
# Entrypoint of a standby: on first start, clone the primary with pg_basebackup (-R writes
# standby.signal and primary_conninfo), then hand over to the official entrypoint, which
# skips initdb because the data directory is no longer empty.
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  until pg_isready --quiet --host "$PRIMARY_HOST" --username replicator; do
    echo "standby: waiting for $PRIMARY_HOST" >&2
    sleep 1
  done
  PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
    --host "$PRIMARY_HOST" --username replicator --pgdata "$PGDATA" \
    --wal-method stream --checkpoint fast --write-recovery-conf
fi

exec docker-entrypoint.sh "$@"
