#!/bin/sh
# pgtide's container entrypoint; tini (PID 1) runs it and reaps what it leaves behind.
#
#   docker-entrypoint.sh [start] [pgtide options]   run the pooler under its supervisor
#   docker-entrypoint.sh <command> [args]           run any other command (sh, node, ...)
#
# Environment (none starts with PGTIDE_: pgtide refuses unknown PGTIDE_ variables):
#   INSTANCE_NAME  names the instance and its log file (default pool1)
#   CONFIG_FILE    TOML configuration (default /etc/pgtide/pgtide.toml); when the file does
#                  not exist pgtide runs from the defaults and the PGTIDE_* variables alone;
#                  unused when the arguments name the seed's files (--pgbouncer, --pgpool)
#                  or a config of their own (--config/-c FILE, --no-config)
#   LOG_DIR        directory of the log file pgtide-$INSTANCE_NAME.log (default
#                  /var/log/pooling); empty: log to stdout only
#   LOG_MAX_BYTES  rotate the log file at this size (default: the supervisor's, 64 MiB)
#   LOG_KEEP       rotated log files kept (default: the supervisor's, 4)
set -eu

case "${1:-start}" in
  start) if [ "$#" -gt 0 ]; then shift; fi ;;
  -*) ;;
  *) exec "$@" ;;
esac

: "${INSTANCE_NAME:=pool1}"
export INSTANCE_NAME
CONFIG_FILE="${CONFIG_FILE-/etc/pgtide/pgtide.toml}"
LOG_DIR="${LOG_DIR-/var/log/pooling}"
app_dir=$(cd "$(dirname "$0")/.." && pwd)

# The instance name becomes part of a file name: refuse anything that could leave LOG_DIR.
case "$INSTANCE_NAME" in
  */* | .* | "")
    echo "docker-entrypoint: INSTANCE_NAME must not be empty, contain '/' or start with '.'" >&2
    exit 64
    ;;
esac

# The seed's files given to the container (start --pgbouncer …), or a config choice of its own
# (--config, --no-config), take the default TOML's place: pgtide refuses two at once.
own_config=no
for arg in "$@"; do
  case "$arg" in --pgbouncer | --pgbouncer=* | --pgpool | --pgpool=* | --config | --config=* | -c | -c?* | --no-config) own_config=yes ;; esac
done

# The defaults go first so that options given to the container win (the last one counts).
user_args=$#
set -- "$@" start --supervise
if [ "$own_config" = yes ]; then
  :
elif [ -n "$CONFIG_FILE" ] && [ -e "$CONFIG_FILE" ]; then
  set -- "$@" --config "$CONFIG_FILE"
else
  # Without it pgtide would look for ./pgtide.toml and /etc/pgtide/pgtide.toml itself.
  set -- "$@" --no-config
fi
if [ -n "$LOG_DIR" ]; then
  set -- "$@" --log-file "$LOG_DIR/pgtide-$INSTANCE_NAME.log"
  if [ -n "${LOG_MAX_BYTES:-}" ]; then set -- "$@" --log-max-bytes "$LOG_MAX_BYTES"; fi
  if [ -n "${LOG_KEEP:-}" ]; then set -- "$@" --log-keep "$LOG_KEEP"; fi
fi
while [ "$user_args" -gt 0 ]; do
  set -- "$@" "$1"
  shift
  user_args=$((user_args - 1))
done

exec node "$app_dir/dist/src/cli.js" "$@"
