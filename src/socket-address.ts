// A socket's address as PostgreSQL and PgBouncer show it. A listener on `*` or `::` takes IPv4
// clients on an IPv6 socket, and Node.js names them `::ffff:a.b.c.d`; inet_client_addr(),
// PgBouncer and pgtide's own hba messages say `a.b.c.d`.

const MAPPED_PREFIX = '::ffff:';

/** `address` without the IPv4-mapped prefix; 'unix' for a unix socket (no address). */
export function shownAddress(address: string | undefined): string {
  if (address === undefined) return 'unix';
  return address.startsWith(MAPPED_PREFIX) && address.includes('.') ? address.slice(MAPPED_PREFIX.length) : address;
}
