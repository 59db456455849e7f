#!/usr/bin/python3
"""asyncpg's COPY FROM STDIN through a pooler that sends reads to standbys. copy_records_to_table
first prepares a SELECT of the table's columns (a read, sent with a Flush and no Sync), then
writes the COPY's Query, its CopyData and its CopyDone without waiting for the server's
CopyInResponse, often in one write; copy_to_table does the same without the SELECT. Each of
CLIENTS connections, ITERATIONS times: a table made, rows copied in both ways, counted, the
table dropped. Every step must succeed as on a direct connection, and every row land.

asyncpg reads the connection settings from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE itself.
Run with Debian's interpreter (/usr/bin/python3): the package is python3-asyncpg.
"""
import asyncio
import io
import sys

try:
    import asyncpg
except ImportError:
    print('asyncpg-copy.py: the asyncpg module is missing: apt-get install python3-asyncpg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

from tally import Tally, expect  # noqa: E402 - after the driver check

CLIENTS = 4
ITERATIONS = 10
ROWS = 50
TIMEOUT_S = 10


async def copy_and_count(conn, table):
    await conn.execute(f'DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, label text)')
    records = [(i, f'record {i}') for i in range(ROWS)]
    expect(await conn.copy_records_to_table(table, records=records), f'COPY {ROWS}', 'copy_records_to_table')
    text = ''.join(f'{i}\tline {i}\n' for i in range(ROWS, 2 * ROWS)).encode()
    expect(await conn.copy_to_table(table, source=io.BytesIO(text)), f'COPY {ROWS}', 'copy_to_table')
    expect(await conn.fetchval(f'SELECT count(*) FROM {table}'), 2 * ROWS, 'rows copied')
    await conn.execute(f'DROP TABLE {table}')


async def copying_client(index, tally):
    conn = await asyncpg.connect(timeout=TIMEOUT_S, command_timeout=TIMEOUT_S)
    try:
        for n in range(ITERATIONS):
            try:
                await copy_and_count(conn, f'asyncpg_copy_{index}')
                tally.succeed()
            except Exception as err:  # noqa: BLE001 - every failure is reported, none ends the run
                print(f'client {index}, iteration {n}: {type(err).__name__}: {err}', file=sys.stderr)
                tally.fail(index, f'iteration {n}', err)
    finally:
        await conn.close()


async def main():
    tally = Tally()
    results = await asyncio.gather(*(copying_client(i, tally) for i in range(CLIENTS)), return_exceptions=True)
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            tally.fail(index, 'connection', result)
    return tally.report(f'asyncpg {asyncpg.__version__} copy', CLIENTS * ITERATIONS)


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
