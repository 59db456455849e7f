#!/usr/bin/python3
"""A routing workload through one driver on its default settings, one connection, every result
checked. Prints one JSON line ({"ok", "errors", "firstError"}); exits non-zero on any error.

  routing-workload.py asyncpg|psycopg read|mixed

read:  READS autocommit reads of prep_read by id. asyncpg prepares each parameterized query as a
       named statement at once; psycopg does from a query's 5th execution (prepare_threshold).
       Once prepared, each transaction starts with a Bind of a statement parsed long before.
mixed: MIXED rounds of: insert a row of prep_mixed (ids from ROUTING_ID_BASE), read it back
       (it must be there: read-your-writes is the default), update it with RETURNING, a locking
       read, nextval (a writing function), and an explicit transaction that writes and reads.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
Run with Debian's interpreter (/usr/bin/python3): python3-asyncpg, python3-psycopg.
"""
import asyncio
import os
import re
import sys

from tally import Tally, expect

READS = 1200
MIXED = 60
QUERY_TIMEOUT_S = 10

READ = 'SELECT v FROM prep_read WHERE id = $1'
INSERT = 'INSERT INTO prep_mixed (id, v) VALUES ($1, $2)'
READ_BACK = 'SELECT v FROM prep_mixed WHERE id = $1'
UPDATE = 'UPDATE prep_mixed SET v = v || $2 WHERE id = $1 RETURNING v'
LOCKING = 'SELECT v FROM prep_mixed WHERE id = $1 FOR UPDATE'
NEXTVAL = "SELECT nextval('prep_seq') > $1"


def psycopg_query(sql, params):
    """psycopg's placeholders are %(name)s, not $n: the same statement with named parameters."""
    return re.sub(r'\$(\d+)', r'%(p\1)s', sql), {f'p{i + 1}': value for i, value in enumerate(params)}


async def run_asyncpg(workload, settings, tally, base):
    import asyncpg
    conn = await asyncpg.connect(**settings, timeout=QUERY_TIMEOUT_S, command_timeout=QUERY_TIMEOUT_S)
    try:
        if workload == 'read':
            for n in range(READS):
                key = 1 + n % 100
                try:
                    expect(await conn.fetchval(READ, key), f'v{key}', 'read')
                    tally.succeed()
                except Exception as err:  # noqa: BLE001 - every failure is counted
                    tally.fail(0, f'read {n}', err)
            return
        for n in range(MIXED):
            key = base + n
            try:
                await conn.execute(INSERT, key, f'r{key}')
                expect(await conn.fetchval(READ_BACK, key), f'r{key}', 'read back')
                expect(await conn.fetchval(UPDATE, key, '+'), f'r{key}+', 'update')
                expect(await conn.fetchval(LOCKING, key), f'r{key}+', 'locking read')
                expect(await conn.fetchval(NEXTVAL, 0), True, 'nextval')
                # prepare() ends with a Flush, not a Sync: the write after it arrives on the
                # prepared read's server, by Query and by Parse.
                prepared = await conn.prepare(READ_BACK)
                await conn.execute(f"UPDATE prep_mixed SET v = v || '' WHERE id = {key}")
                prepared = await conn.prepare(READ_BACK)
                expect(await conn.fetchval(UPDATE, key, ''), f'r{key}+', 'update after prepare')
                expect(await prepared.fetchval(key), f'r{key}+', 'prepared read')
                async with conn.transaction():
                    await conn.execute(UPDATE, key, '!')
                    expect(await conn.fetchval(READ_BACK, key), f'r{key}+!', 'read in transaction')
                tally.succeed()
            except Exception as err:  # noqa: BLE001
                tally.fail(0, f'round {n}', err)
    finally:
        await conn.close(timeout=QUERY_TIMEOUT_S)


def run_psycopg(workload, settings, tally, base):
    import psycopg
    with psycopg.connect(**settings, connect_timeout=QUERY_TIMEOUT_S, autocommit=True) as conn:
        def execute(sql, *params):
            return conn.execute(*psycopg_query(sql, params))

        def value(sql, *params):
            return execute(sql, *params).fetchone()[0]

        if workload == 'read':
            for n in range(READS):
                key = 1 + n % 100
                try:
                    expect(value(READ, key), f'v{key}', 'read')
                    tally.succeed()
                except Exception as err:  # noqa: BLE001
                    tally.fail(0, f'read {n}', err)
            return
        for n in range(MIXED):
            key = base + n
            try:
                execute(INSERT, key, f'r{key}')
                expect(value(READ_BACK, key), f'r{key}', 'read back')
                expect(value(UPDATE, key, '+'), f'r{key}+', 'update')
                expect(value(LOCKING, key), f'r{key}+', 'locking read')
                expect(value(NEXTVAL, 0), True, 'nextval')
                with conn.transaction():
                    execute(UPDATE, key, '!')
                    expect(value(READ_BACK, key), f'r{key}+!', 'read in transaction')
                tally.succeed()
            except Exception as err:  # noqa: BLE001
                tally.fail(0, f'round {n}', err)


def main():
    driver, workload = sys.argv[1], sys.argv[2]
    base = int(os.environ.get('ROUTING_ID_BASE', '1'))
    settings = dict(host=os.environ['PGHOST'], port=int(os.environ['PGPORT']),
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'))
    tally = Tally()
    try:
        if driver == 'asyncpg':
            asyncio.run(run_asyncpg(workload, dict(settings, database=os.environ['PGDATABASE']), tally, base))
        else:
            run_psycopg(workload, dict(settings, dbname=os.environ['PGDATABASE']), tally, base)
    except Exception as err:  # noqa: BLE001 - a failed connect is reported like any other failure
        tally.fail(0, 'connection', err)
    expected = READS if workload == 'read' else MIXED
    return tally.report(f'{driver} {workload}', expected)


if __name__ == '__main__':
    sys.exit(main())
