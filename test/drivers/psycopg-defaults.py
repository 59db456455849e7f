#!/usr/bin/python3
"""psycopg 3 on its default settings, through a pooler: what it does with prepared statements
on its own, which a pooler must follow.

- It prepares a query after 5 executions (prepare_threshold = 5), under names _pg3_<n>.
- After a ROLLBACK, and after a statement whose tag starts with DROP, it sends DEALLOCATE ALL
  through the extended protocol (Parse/Bind/Execute of the unnamed statement).
- When its cache of prepared statements is full (prepared_max), it sends DEALLOCATE _pg3_<n>
  for the one it evicts, through the extended protocol too.

Usage: psycopg-defaults.py SCENARIO CLIENTS ROUNDS, SCENARIO one of rollback, drop, evict,
pipeline (the same in pipeline mode), all, pipeline_write (a read then a write per batch).
Clients run concurrently (one thread and connection each) and run the same statement texts,
so that a pooler shares them between clients. Prints one JSON line {driver, ok, errors, firstError};
ok counts rounds that checked every result; exits non-zero on any error.
Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
"""
import os
import sys

try:
    import psycopg
except ImportError:
    print('psycopg-defaults.py: apt-get install python3-psycopg (and run with /usr/bin/python3)',
          file=sys.stderr)
    sys.exit(2)

from tally import Tally, expect, run_clients  # noqa: E402 - after the driver check

CONNECT_TIMEOUT_S = 10
DEADLINE_S = 60


def run_often(conn, times, n):
    """One query more often than the threshold: psycopg prepares it on the way."""
    for i in range(times):
        expect(conn.execute('SELECT %s::int4 + 1 AS v', (n + i,)).fetchone(), (n + i + 1,), 'add_one')
        expect(conn.execute("SELECT %s::text || '!' AS v", (f'{n}-{i}',)).fetchone(), (f'{n}-{i}!',), 'bang')


def rollback_round(conn, client, n):
    """Prepared, committed, then a ROLLBACK: psycopg sends DEALLOCATE ALL."""
    conn.autocommit = False
    run_often(conn, 7, n)
    conn.commit()
    run_often(conn, 1, n)
    conn.rollback()
    run_often(conn, 7, n + 100)
    conn.commit()


def drop_round(conn, client, n):
    """Prepared, then a DROP: psycopg sends DEALLOCATE ALL after it."""
    conn.autocommit = True
    run_often(conn, 7, n)
    conn.execute(f'DROP TABLE IF EXISTS pg3_defaults_missing_{client}')
    run_often(conn, 7, n + 100)


def evict_round(conn, client, n):
    """Five statements through a cache of two: each eviction sends DEALLOCATE _pg3_<n>."""
    conn.autocommit = True
    conn.prepare_threshold = 0
    conn.prepared_max = 2
    try:
        for i in range(10):
            k = i % 5
            expect(conn.execute(f'SELECT %s::int4 * {k + 2} AS v', (n + i,)).fetchone(), ((n + i) * (k + 2),), f'times_{k + 2}')
    finally:
        conn.prepare_threshold = 5
        conn.prepared_max = 100


def pipeline_round(conn, client, n):
    """Pipeline mode: statements sent in batches with one Sync, prepared on the way; an error
    aborts the rest of its batch; a ROLLBACK (DEALLOCATE ALL) and cache evictions in between."""
    conn.autocommit = True
    with conn.pipeline():
        adds = [conn.execute('SELECT %s::int4 + 1 AS v', (n + i,)) for i in range(8)]
        bangs = [conn.execute("SELECT %s::text || '!' AS v", (f'{n}-{i}',)) for i in range(8)]
    for i, cur in enumerate(adds):
        expect(cur.fetchone(), (n + i + 1,), 'pipelined add_one')
    for i, cur in enumerate(bangs):
        expect(cur.fetchone(), (f'{n}-{i}!',), 'pipelined bang')
    try:
        with conn.pipeline():
            conn.execute('SELECT %s::int4 + 1 AS v', (n,))
            conn.execute('SELECT 1 / %s::int4 AS v', (0,))
            conn.execute("SELECT %s::text || '!' AS v", ('lost',))
        raise AssertionError('pipelined division by zero: no error')
    except psycopg.errors.DivisionByZero:
        pass
    conn.autocommit = False
    with conn.pipeline():
        adds = [conn.execute('SELECT %s::int4 + 1 AS v', (n + i,)) for i in range(3)]
        conn.rollback()
        bangs = [conn.execute("SELECT %s::text || '!' AS v", (f'{n}+{i}',)) for i in range(7)]
        conn.commit()
    for i, cur in enumerate(adds):
        expect(cur.fetchone(), (n + i + 1,), 'add_one before rollback')
    for i, cur in enumerate(bangs):
        expect(cur.fetchone(), (f'{n}+{i}!',), 'bang after rollback')
    conn.autocommit = True
    conn.prepare_threshold = 0
    conn.prepared_max = 2
    try:
        with conn.pipeline():
            curs = [conn.execute(f'SELECT %s::int4 * {i % 5 + 2} AS v', (n + i,)) for i in range(10)]
        for i, cur in enumerate(curs):
            expect(cur.fetchone(), ((n + i) * (i % 5 + 2),), f'pipelined times_{i % 5 + 2}')
    finally:
        conn.prepare_threshold = 5
        conn.prepared_max = 100


def pipeline_write_round(conn, client, n):
    """Pipeline mode in autocommit, a read then a write in each batch, eight times (psycopg
    prepares both at the sixth): behind a pooler that sends reads to standbys, each batch must
    run whole on the primary; every read answers and every write lands."""
    conn.autocommit = True
    table = f'pg3_pipeline_writes_{client}'
    conn.execute(f'CREATE TABLE IF NOT EXISTS {table} (n int)')
    conn.execute(f'DELETE FROM {table} WHERE n >= %s AND n < %s', (n, n + 8))
    for i in range(8):
        with conn.pipeline():
            read = conn.execute('SELECT %s::int4 + 1 AS v', (n + i,))
            conn.execute(f'INSERT INTO {table} VALUES (%s)', (n + i,))
        expect(read.fetchone(), (n + i + 1,), 'pipelined read before a write')
    counted = conn.execute(f'SELECT count(*) FROM {table} WHERE n >= %s AND n < %s', (n, n + 8)).fetchone()
    expect(counted, (8,), 'pipelined writes')


SCENARIOS = {'rollback': [rollback_round], 'drop': [drop_round], 'evict': [evict_round], 'pipeline': [pipeline_round],
             'pipeline_write': [pipeline_write_round]}
SCENARIOS['all'] = SCENARIOS['rollback'] + SCENARIOS['drop'] + SCENARIOS['evict'] + SCENARIOS['pipeline']


def client(index, settings, rounds, steps, tally):
    try:
        conn = psycopg.connect(**settings, connect_timeout=CONNECT_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - every failure is reported
        tally.fail(index, 'connect', err)
        return
    with conn:
        for r in range(rounds):
            try:
                for step in steps:
                    step(conn, index, index * 10_000 + r * 1000)
                tally.succeed()
            except Exception as err:  # noqa: BLE001
                tally.fail(index, f'round {r}', err)
                if conn.closed:
                    return
                try:
                    conn.rollback()
                except Exception:  # noqa: BLE001
                    return


def main():
    scenario, clients, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = dict(host=os.environ['PGHOST'], port=os.environ['PGPORT'],
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'),
                    dbname=os.environ['PGDATABASE'])
    tally = Tally()
    run_clients(clients, client, (settings, rounds, SCENARIOS[scenario]), tally, DEADLINE_S)
    return tally.report(f'psycopg {psycopg.version.__version__} defaults', clients * rounds)

if __name__ == '__main__':
    sys.exit(main())
