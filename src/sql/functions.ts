// Which functions make a statement a write, with Pgpool-II's semantics for
// `write_function_list` / `read_only_function_list` so imported pgpool.conf
// files keep meaning what they meant.

/**
 * Built-ins that write or take locks. They are writes whatever the user lists
 * say: a standby rejects them ("cannot execute nextval() in a read-only
 * transaction"), so routing them there can never be right. currval and lastval
 * read what nextval left in the session, which only a primary's session has:
 * they follow the client's writes, and, as built-ins that change nothing, never
 * cost the server the reset that code pgtide cannot see into does (a reset that
 * would forget the very value they read: PDO's lastInsertId, Doctrine). setseed writes
 * nothing, but the seed lives in its backend only: its client is pinned there, on the primary
 * as for all such state. set_config is a write here (a call the parser found), yet the lexer
 * lets local calls keep their statement's route (see query-scan.ts, setConfigArgs).
 */
const BUILTIN_WRITER =
  /^(nextval|setval|currval|lastval|pg_(try_)?advisory_.*lock.*|lo_.*|lo(read|write|open|close|creat)|pg_notify|set_config|txid_current(_if_assigned)?|pg_current_xact_id(_if_assigned)?|pg_switch_wal|pg_create_restore_point|pg_(create|drop)_.*replication_slot|pg_replication_slot_advance|pg_logical_emit_message|pg_stat_reset.*|pg_reload_conf|setseed)$/;

/** Built-in writers (BUILTIN_WRITER) for their session state only: they write no row. */
const STATE_ONLY_WRITER = /^(currval|lastval|set_config|setseed|pg_(try_)?advisory_.*lock.*)$/;

/** Session-level (not `_xact_`) advisory lock functions: they pin the server connection. */
const SESSION_ADVISORY_LOCK = /^pg_(try_)?advisory_lock(_shared)?$/;

/**
 * Common built-ins that never write. Most are stable or immutable; a few
 * volatile ones (random, clock_timestamp, gen_random_uuid) are here too because
 * volatility is only a proxy for "may write" and these cannot.
 */
const BUILTIN_READ = new Set([
  'now',
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'coalesce',
  'nullif',
  'greatest',
  'least',
  'lower',
  'upper',
  'length',
  'char_length',
  'octet_length',
  'abs',
  'round',
  'floor',
  'ceil',
  'ceiling',
  'trunc',
  'mod',
  'power',
  'sqrt',
  'exp',
  'ln',
  'log',
  'sign',
  'random',
  'clock_timestamp',
  'statement_timestamp',
  'transaction_timestamp',
  'timeofday',
  'gen_random_uuid',
  'concat',
  'concat_ws',
  'substr',
  'substring',
  'replace',
  'trim',
  'btrim',
  'ltrim',
  'rtrim',
  'position',
  'strpos',
  'left',
  'right',
  'lpad',
  'rpad',
  'split_part',
  'reverse',
  'repeat',
  'initcap',
  'format',
  'md5',
  'encode',
  'decode',
  'regexp_replace',
  'regexp_match',
  'regexp_matches',
  'regexp_split_to_array',
  'regexp_split_to_table',
  'string_agg',
  'array_agg',
  'json_agg',
  'jsonb_agg',
  'json_object_agg',
  'jsonb_object_agg',
  'json_build_object',
  'jsonb_build_object',
  'json_build_array',
  'jsonb_build_array',
  'to_json',
  'to_jsonb',
  'row_to_json',
  'array_to_json',
  'json_array_elements',
  'jsonb_array_elements',
  'json_each',
  'jsonb_each',
  'jsonb_set',
  'jsonb_typeof',
  'json_extract_path_text',
  'jsonb_extract_path_text',
  'jsonb_path_query',
  'to_char',
  'to_date',
  'to_timestamp',
  'to_number',
  'date_trunc',
  'date_part',
  'extract',
  'age',
  'make_date',
  'make_interval',
  'overlay',
  'normalize',
  'array_length',
  'array_position',
  'array_to_string',
  'string_to_array',
  'cardinality',
  'unnest',
  'generate_series',
  'row_number',
  'rank',
  'dense_rank',
  'percent_rank',
  'cume_dist',
  'ntile',
  'lag',
  'lead',
  'first_value',
  'last_value',
  'nth_value',
  'bool_and',
  'bool_or',
  'every',
  'stddev',
  'variance',
  'percentile_cont',
  'percentile_disc',
  'mode',
  'grouping',
  'current_setting',
  'current_database',
  'current_schema',
  'current_schemas',
  'current_user',
  'version',
  'pg_backend_pid',
  'pg_is_in_recovery',
  'pg_last_wal_replay_lsn',
  'pg_typeof',
  'has_table_privilege',
  'has_schema_privilege',
  'pg_table_size',
  'pg_total_relation_size',
  'pg_relation_size',
  'pg_size_pretty',
  'pg_get_userbyid',
  'format_type',
  'obj_description',
  'col_description',
  'quote_ident',
  'quote_literal',
  'quote_nullable',
  'chr',
  'ascii',
  'to_hex',
  'width_bucket',
  'isfinite',
  'justify_days',
  'justify_hours',
  'array_remove',
  'array_append',
  'array_cat',
  'array_prepend',
  'array_dims',
  'array_upper',
  'array_lower',
  'json_object',
  'json_array',
  'json_objectagg',
  'json_arrayagg',
  'json_value',
  'json_query',
  'json_exists',
  'json_scalar',
  'json_serialize',
  'jsonb_pretty',
  'pg_sleep',
]);

/** Caller-learned volatility entries kept at most; beyond, the oldest is forgotten. */
const MAX_LEARNED = 10_000;

export interface FunctionPolicyOptions {
  /** Pgpool `write_function_list`: regexes, each anchored to the whole name. */
  writeFunctions?: readonly string[];
  /** Pgpool `read_only_function_list`: regexes, each anchored to the whole name. */
  readOnlyFunctions?: readonly string[];
}

/** The unqualified name when the function is a built-in (unqualified or pg_catalog). */
function builtinName(name: string): string | undefined {
  if (!name.includes('.')) return name;
  return name.startsWith('pg_catalog.') && name.indexOf('.', 11) < 0 ? name.slice(11) : undefined;
}

function compileList(patterns: readonly string[] | undefined, option: string): RegExp | undefined {
  const list = (patterns ?? []).map((p) => p.trim()).filter((p) => p !== '');
  if (list.length === 0) return undefined;
  for (const p of list) {
    try {
      new RegExp(p);
    } catch (err) {
      throw new Error(`${option}: invalid regular expression ${JSON.stringify(p)}: ${(err as Error).message}`);
    }
  }
  return new RegExp(`^(?:${list.map((p) => `(?:${p})`).join('|')})$`);
}

export function isBuiltinWriter(name: string): boolean {
  const bare = builtinName(name);
  return bare !== undefined && BUILTIN_WRITER.test(bare);
}

/** currval and lastval: they read what nextval left in the session (see BUILTIN_WRITER). */
export function readsSequenceState(name: string): boolean {
  const bare = builtinName(name);
  return bare === 'currval' || bare === 'lastval';
}

/** A built-in that goes to the primary for session state alone (see Classification.writesNothing). */
export function writesNoRows(name: string): boolean {
  const bare = builtinName(name);
  return bare !== undefined && STATE_ONLY_WRITER.test(bare);
}

/** Session state a call to `name` leaves behind, if any. */
export function sessionStateOfCall(name: string): 'advisory_lock' | 'set_config' | 'random_seed' | undefined {
  const bare = builtinName(name);
  if (bare === undefined) return undefined;
  if (SESSION_ADVISORY_LOCK.test(bare)) return 'advisory_lock';
  if (bare === 'setseed') return 'random_seed';
  return bare === 'set_config' ? 'set_config' : undefined;
}

/** pg_terminate_backend and pg_cancel_backend: they signal the backend a pid names. */
export function backendSignalOfCall(name: string): 'terminate' | 'cancel' | undefined {
  const bare = builtinName(name);
  return bare === 'pg_terminate_backend' ? 'terminate' : bare === 'pg_cancel_backend' ? 'cancel' : undefined;
}

export function isBuiltinRead(name: string): boolean {
  const bare = builtinName(name);
  return bare !== undefined && BUILTIN_READ.has(bare);
}

/** How long a function's volatility, once learned, is taken as known. */
export const VOLATILITY_TTL_MS = 60_000;

export class FunctionPolicy {
  /**
   * Names of PostgreSQL's own functions (or pg_-prefixed) that a database also defines outside
   * pg_catalog (`public.upper(int)`, an extension's `pg_stat_statements()`): a call of one
   * written without pg_catalog may run that function, so it counts as a user function's.
   */
  readonly shadowed = new Set<string>();
  private readonly writeList: RegExp | undefined;
  private readonly readOnlyList: RegExp | undefined;
  /** When each name was learned, times two, plus one when volatile (one number an entry). */
  private readonly volatile = new Map<string, number>();

  /** Throws a descriptive Error when a pattern is not a valid regular expression. */
  constructor(opts: FunctionPolicyOptions = {}) {
    this.writeList = compileList(opts.writeFunctions, 'write_function_list');
    this.readOnlyList = compileList(opts.readOnlyFunctions, 'read_only_function_list');
  }

  /** True when the policy needs the catalog's volatility to decide unknown functions. */
  get usesCatalog(): boolean {
    return this.writeList === undefined && this.readOnlyList === undefined;
  }

  /**
   * `name` is as written in SQL: lower-cased unless quoted, schema-qualified
   * when the query qualified it. undefined = unknown until the caller looks up
   * its volatility (`pg_proc.provolatile = 'v'`) and calls `learnVolatility`.
   */
  isWrite(name: string): boolean | undefined {
    if (isBuiltinWriter(name)) return true;
    if (this.writeList) return this.matches(this.writeList, name);
    // Deviation from Pgpool: built-ins known not to write stay reads even when
    // a read_only_function_list omits them (else every count(*) goes to the primary).
    if (isBuiltinRead(name) && !this.shadowed.has(name)) return false;
    if (this.readOnlyList) return !this.matches(this.readOnlyList, name);
    const learned = this.volatile.get(name);
    // Known too long ago: a function replaced since must be looked up again (see FunctionCatalog).
    if (learned === undefined || Date.now() - Math.floor(learned / 2) > VOLATILITY_TTL_MS) return undefined;
    return learned % 2 === 1;
  }

  learnVolatility(name: string, volatile: boolean): void {
    if (this.volatile.size >= MAX_LEARNED && !this.volatile.has(name)) {
      const oldest = this.volatile.keys().next().value;
      if (oldest !== undefined) this.volatile.delete(oldest);
    }
    this.volatile.delete(name);
    this.volatile.set(name, Date.now() * 2 + (volatile ? 1 : 0));
  }

  forgetVolatility(): void {
    this.volatile.clear();
  }

  private matches(list: RegExp, name: string): boolean {
    if (list.test(name)) return true;
    const dot = name.lastIndexOf('.');
    return dot >= 0 && list.test(name.slice(dot + 1));
  }
}
