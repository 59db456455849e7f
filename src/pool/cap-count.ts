// Server connections counted against one kind of shared cap (max_db_connections by database,
// max_user_connections by user). A cap holds per backend: it guards one PostgreSQL server's
// connection slots, as PgBouncer's guards the one host it connects to (docs/configuration.md).
//
// A closed connection still counts while it is leaving, until its socket is gone: PostgreSQL
// frees the backend's slot before the socket closes, so a login started after that never finds
// the server holding more than the cap.

export class CapCount {
  /** Open, opening and leaving connections, by (name, backend). */
  private readonly held = new Map<string, number>();
  /** Of those, closed ones whose socket is not gone yet. */
  private readonly leavingNow = new Map<string, number>();
  /** Open, opening and leaving connections by name, every backend together (SHOW DATABASES / USERS). */
  private readonly totals = new Map<string, number>();

  opened(name: string, backend: string): void {
    bump(this.held, capKey(name, backend), 1);
    bump(this.totals, name, 1);
  }

  leaving(name: string, backend: string): void {
    bump(this.leavingNow, capKey(name, backend), 1);
  }

  gone(name: string, backend: string): void {
    const key = capKey(name, backend);
    bump(this.held, key, -1);
    bump(this.leavingNow, key, -1);
    bump(this.totals, name, -1);
  }

  /** Connections that take a slot of `name` on `backend` now, leaving ones included. */
  heldBy(name: string, backend: string): number {
    return this.held.get(capKey(name, backend)) ?? 0;
  }

  /** Closed connections of `name` on `backend` whose slot is about to be free. */
  leavingBy(name: string, backend: string): number {
    return this.leavingNow.get(capKey(name, backend)) ?? 0;
  }

  total(name: string): number {
    return this.totals.get(name) ?? 0;
  }
}

function capKey(name: string, backend: string): string {
  return `${name}\0${backend}`;
}

/** Adds `by`; a count back to 0 leaves the map, so names and backends seen once do not pile up. */
function bump(map: Map<string, number>, key: string, by: number): void {
  const value = (map.get(key) ?? 0) + by;
  if (value === 0) map.delete(key);
  else map.set(key, value);
}
