// The client's own pg_prepared_statements, as SQL that takes the view's place in its text (see
// sql/statement-list.ts): its named statements under its names, with the texts it sent and the
// times it prepared them, joined with what the server holds of pgtide's copies (parameter and
// result types, plan counts); then what the server holds under names pgtide did not give (SQL
// PREPAREs, statements of a pinned client pgtide did not map). The rows keep the view's own row
// type through jsonb_populate_record, so the SQL is the same on every PostgreSQL version.
import { literal } from '../sql/quote.js';
import type { StatementListReference } from '../sql/statement-list.js';
import type { TextEdit } from '../sql/text-edits.js';

/** One of the client's named statements, as its pg_prepared_statements shows it. */
export interface ListedStatement {
  readonly name: string;
  readonly serverName: string;
  /** The text as the client sent it, in its client_encoding. */
  readonly text: Buffer;
  /** When the client prepared it (see preparedNow); undefined: the server copy's time. */
  readonly preparedAt: number | undefined;
}

const UNMAPPED = `SELECT * FROM pg_catalog.pg_prepared_statements WHERE pg_catalog.left(name, 7) OPERATOR(pg_catalog.<>) 'pgtide_'`;

/**
 * What a server lacks of a statement (no copy there: the client's statements are prepared on a
 * server at their first use) is what a statement never run has: no plan yet, types unknown.
 */
const MAPPED_COLUMNS =
  "'name', m.name, 'statement', m.statement, 'prepare_time', m.at, 'from_sql', false, " +
  "'generic_plans', CASE WHEN p.name IS NULL THEN 0 END, 'custom_plans', CASE WHEN p.name IS NULL THEN 0 END";

/**
 * The view's rows for a client whose statements are `listed`, as a parenthesized query. A
 * string of bytes (latin1): the texts go in as the client sent them, dollar-quoted, so that the
 * server reads them in the client's encoding as it read the client's own Parse.
 */
export function statementListSql(listed: readonly ListedStatement[]): string {
  if (listed.length === 0) return `(${UNMAPPED})`;
  const rows = listed
    .map((l) => `(${literal(l.serverName)}, ${literal(l.name)}, ${dollarQuoted(l.text)}, ${timestamp(l.preparedAt)})`)
    .join(', ');
  return (
    `(SELECT (pg_catalog.jsonb_populate_record(p, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(${MAPPED_COLUMNS})))).*` +
    ` FROM (VALUES ${rows}) AS m(server, name, statement, at)` +
    ' LEFT JOIN pg_catalog.pg_prepared_statements p ON p.name OPERATOR(pg_catalog.=) m.server' +
    ` UNION ALL ${UNMAPPED})`
  );
}

/** `text` between dollar quotes whose tag it cannot end early. No encoding PostgreSQL accepts
 *  from a client has `$` as a byte of a multi-byte character. */
function dollarQuoted(text: Buffer): string {
  const bytes = text.toString('latin1');
  let tag = '$pgtide$';
  for (let n = 0; (bytes + tag).indexOf(tag) !== bytes.length; n++) tag = `$pgtide${n}$`;
  return `${tag}${bytes}${tag}`;
}

function timestamp(ms: number | undefined): string {
  return ms === undefined ? 'NULL::pg_catalog.timestamptz' : `pg_catalog.to_timestamp(${(ms / 1000).toFixed(6)})`;
}

/**
 * What the rewritten texts of one message may add up to: the list is copied at each reference,
 * so a text naming the view many times, from a client holding many long statements, would
 * otherwise grow without bound (PostgreSQL refuses a query over 1 GiB anyway). Past it the
 * text reads the server's view.
 */
export const MAX_LIST_TEXT = 64 * 1024 * 1024;

/** Each reference replaced by `sql`, with the view's name as its alias where the text gives
 *  none, so that columns qualified by it still resolve; none past MAX_LIST_TEXT (`sql` null:
 *  the list alone passed it). */
export function listEdits(references: readonly StatementListReference[], sql: string | null): TextEdit[] {
  if (sql === null || references.length * sql.length > MAX_LIST_TEXT) return [];
  return references.map((r) => {
    const relation = r.aliased ? sql : `${sql} AS pg_prepared_statements`;
    return [r.start, r.end, r.table ? `SELECT * FROM ${relation}` : relation];
  });
}

let last = 0;

/** Now, in ms since the epoch to the µs, never the same twice: the order of the client's
 *  Parses is the order of their prepare_time, as on PostgreSQL. */
export function preparedNow(): number {
  const now = Math.max(performance.timeOrigin + performance.now(), last + 0.001);
  last = now;
  return now;
}
