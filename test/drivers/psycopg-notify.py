#!/usr/bin/python3
"""psycopg 3 notifying itself, as psycopg's own tests do: LISTEN, NOTIFY on the same connection
(autocommit), and compare the notification's pid with the backend pid the connection was told
(BackendKeyData). Prints one JSON line: {"backend_pid": ..., "notify_pids": [...], "payloads": [...]}.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
Run with Debian's interpreter (/usr/bin/python3): the package is python3-psycopg.
"""
import json
import sys

try:
    import psycopg
except ImportError:
    print('psycopg-notify.py: the psycopg (3) module is missing: apt-get install python3-psycopg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

ROUNDS = 5

with psycopg.connect(autocommit=True, connect_timeout=10) as conn:
    pids, payloads = [], []

    def received(n):
        pids.append(n.pid)
        payloads.append(n.payload)

    # psycopg hands over the notifications that arrive with any query's answer.
    conn.add_notify_handler(received)
    conn.execute('LISTEN self_channel')
    for i in range(ROUNDS):
        conn.execute("SELECT pg_notify('self_channel', %s)", (str(i),))
        conn.execute('SELECT 1')
    print(json.dumps({'backend_pid': conn.info.backend_pid, 'notify_pids': pids, 'payloads': payloads}))
