// State shared by the mappers of one import: the TOML being written and the warnings for
// the operator.
import { basename } from 'node:path';
import { formatOrigin, type Origin, type TomlDraft, type TomlValue } from './toml-draft.js';

export interface ImportContext {
  draft: TomlDraft;
  warnings: string[];
  /** --users: the operator's latest word on the auth_file, over pgbouncer.ini's. */
  usersFile?: string;
}

export function originOf(at: { file: string; line: number }): Origin {
  return { file: basename(at.file), line: at.line };
}

export function where(at: { file: string; line: number }): string {
  return formatOrigin(originOf(at));
}

/** Sets a key; when another file already set it, says so in the output and warns if the two
 *  disagree. */
export function setKey(
  ctx: ImportContext,
  key: string,
  value: TomlValue,
  at: { file: string; line: number },
  note?: string,
): void {
  const earlier = ctx.draft.set(key, value, originOf(at), note);
  if (earlier === undefined) return;
  const kept = ctx.draft.valueOf(key);
  ctx.draft.comment(`${where(at)} also sets ${key}; ${formatOrigin(earlier)} is applied.`);
  if (JSON.stringify(kept) !== JSON.stringify(value)) {
    ctx.warnings.push(
      `${where(at)}: ${key} differs from ${formatOrigin(earlier)}; the value of ${formatOrigin(earlier)} is used`,
    );
  }
}

/** Records a setting that has no pgtide key, in the output and, when it changes behaviour,
 *  as a warning. */
export function dropSetting(
  ctx: ImportContext,
  at: { file: string; line: number },
  setting: string,
  reason: string,
  warn: boolean,
): void {
  ctx.draft.comment(`${where(at)} ${setting}: ${reason}`);
  if (warn) ctx.warnings.push(`${where(at)}: ${setting} is not imported: ${reason}`);
}
