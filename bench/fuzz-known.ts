// Divergences the differential fuzzer recognises by their answers, where the generator cannot
// leave their shape out (it never looks at answers): see bench/README.md, known divergences.
import type { Answer } from './fuzz-wire.js';
import { DROPPED_PORTAL } from '../src/proxy/session/unnamed-portal.js';
import { NO_UNNAMED_STATEMENT } from '../src/proxy/session/unnamed-statement.js';

const READY_FAILED = 'ReadyForQuery E';
const READY_IN_BLOCK = 'ReadyForQuery T';

/**
 * Known divergence (1), by its answer: a Bind or Describe of the unnamed statement the client
 * has none of on its server (after a Close of it, or one prepared in an earlier transaction)
 * gets 26000 naming NO_UNNAMED_STATEMENT, which PostgreSQL calls "unnamed prepared statement".
 */
export function unnamedStatementNamed(_before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const at = firstDifference(direct, pooled);
  return (
    at !== null &&
    at.direct === 'ErrorResponse ERROR 26000 unnamed prepared statement does not exist' &&
    at.pooled === `ErrorResponse ERROR 26000 prepared statement "${NO_UNNAMED_STATEMENT}" does not exist`
  );
}

/**
 * Known divergence (4): in a failed transaction block a server cannot prepare a statement it
 * lacks, so a Describe of it, a Bind with the wrong number of parameters, or a Parse of its name
 * again, gets the 25P02 of pgtide's Parse where PostgreSQL describes it (a statement without
 * result rows) or answers 08P01 or 42P05. `before`: the answers to the batch before, whose last
 * ReadyForQuery may have left the block failed.
 */
export function failedBlockPrepare(before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const at = firstDifference(direct, pooled);
  if (at === null || !at.pooled?.startsWith('ErrorResponse ERROR 25P02 ')) return false;
  if (
    !at.direct.startsWith('ParameterDescription') &&
    !at.direct.startsWith('ErrorResponse ERROR 08P01 bind message supplies') &&
    !/^ErrorResponse ERROR 42P05 prepared statement "[^"]*" already exists/.test(at.direct)
  )
    return false;
  return readyBefore(before, direct, at.index) === READY_FAILED;
}

/**
 * Known divergence (5): a RESET of a startup setting (RESET application_name, RESET ALL) inside
 * a transaction block gives the server connection's own startup value (none: `''`) until the
 * block ends, where PostgreSQL gives the client's (the fuzzer's `fuzz`).
 */
export function startupResetInBlock(before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const at = firstDifference(direct, pooled);
  if (at === null || at.direct !== 'DataRow("fuzz")' || at.pooled !== 'DataRow("")') return false;
  const ready = readyBefore(before, direct, at.index);
  return ready === READY_FAILED || ready === READY_IN_BLOCK;
}

/** PostgreSQL's two answers to an Execute of an unnamed portal it cannot run in a failed block. */
const PORTAL_CANNOT_RUN = 'ErrorResponse ERROR 55000 portal "" cannot be run';
const ABORTED = 'ErrorResponse ERROR 25P02 ';

/** pgtide's answer to such an Execute (see src/proxy/session/unnamed-portal.ts). */
const SHIELDED = `ErrorResponse ERROR 34000 portal "${DROPPED_PORTAL}" does not exist`;

/**
 * Known divergence (6): after a simple Query failed in a transaction block, an Execute of `""`
 * reads the portal that Query left, freed: PostgreSQL 18.4 answers 55000 or 25P02 depending on
 * the messages in between, or crashes. pgtide sends that Execute under a name no portal has
 * (34000); before it did, its own Parses changed which of the two came. The first difference is
 * one of PostgreSQL's two for pgtide's, in a failed block.
 */
export function unnamedPortalInFailedBlock(before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const at = firstDifference(direct, pooled);
  if (at === null || at.pooled === undefined) return false;
  const undefinedAnswer = (a: string) => a.startsWith(PORTAL_CANNOT_RUN) || a.startsWith(ABORTED);
  const pair = (a: string, b: string) => a.startsWith(PORTAL_CANNOT_RUN) && b.startsWith(ABORTED);
  const shielded = undefinedAnswer(at.direct) && at.pooled.startsWith(SHIELDED);
  if (!shielded && !pair(at.direct, at.pooled) && !pair(at.pooled, at.direct)) return false;
  return readyBefore(before, direct, at.index) === READY_FAILED;
}

/**
 * Known divergence (8): a Parse pgtide sends ahead of a client's Describe takes a snapshot (a
 * query is analysed under one), and a BEGIN later in that batch keeps it for its block, so an
 * isolation level set in the block gets 25001 where PostgreSQL, which took none, sets it.
 */
export function isolationAfterSnapshot(before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const at = firstDifference(direct, pooled);
  if (at === null || !at.direct.startsWith('CommandComplete ')) return false;
  if (
    !at.pooled?.startsWith('ErrorResponse ERROR 25001 SET TRANSACTION ISOLATION LEVEL must be called before any query')
  )
    return false;
  return readyBefore(before, direct, at.index) === READY_IN_BLOCK;
}

/** The first message where the answers differ, if the direct answer has one there. */
function firstDifference(
  direct: Answer,
  pooled: Answer,
): { index: number; direct: string; pooled: string | undefined } | null {
  const d = direct.messages;
  const p = pooled.messages;
  let i = 0;
  while (i < d.length && d[i] === p[i]) i++;
  return i === d.length ? null : { index: i, direct: d[i]!, pooled: p[i] };
}

/** The transaction status the session had before the direct answer's message `index`. */
function readyBefore(before: Answer | undefined, direct: Answer, index: number): string | undefined {
  const d = direct.messages;
  for (let k = index - 1; k >= 0; k--) if (d[k]!.startsWith('ReadyForQuery ')) return d[k];
  return before?.messages.at(-1);
}
