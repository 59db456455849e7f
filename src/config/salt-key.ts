// The key of the per-user SCRAM salts (NameSalts). With state_dir set it is kept in a file
// there, so that after a restart every user name gets the salt it had: an unknown name's salt
// that changed at each restart, where a stored SCRAM secret's never does, would tell a client
// which names exist. Without state_dir each run draws its own.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY_BYTES = 32;
const KEY_TEXT = /^[0-9a-f]{64}$/;

export interface LoadedSaltKey {
  key: Buffer;
  /** Why the key could not be read or kept (a new one is used for this run); null when all went well. */
  problem: string | null;
}

export function saltKeyFile(stateDir: string, instance: string): string {
  return join(stateDir, `pgtide-${instance}.salt-key`);
}

/** The key kept in state_dir (drawn and written there the first time), or a fresh one. */
export function loadSaltKey(stateDir: string, instance: string): LoadedSaltKey {
  if (stateDir === '') return { key: randomBytes(KEY_BYTES), problem: null };
  const file = saltKeyFile(stateDir, instance);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      return { key: randomBytes(KEY_BYTES), problem: `cannot read ${file}: ${(error as Error).message}` };
    return writeNewKey(file, stateDir);
  }
  const key = parseSaltKey(text.trim());
  if (key === null)
    return {
      key: randomBytes(KEY_BYTES),
      problem: `${file} is damaged (not 64 hex digits); remove it to keep a new key`,
    };
  return { key, problem: null };
}

/** A key in its text form (64 lowercase hex digits, as its file and a worker's environment
 *  hold it); null when the text is not one. */
export function parseSaltKey(hex: string): Buffer | null {
  return KEY_TEXT.test(hex) ? Buffer.from(hex, 'hex') : null;
}

/** Written to a temporary file then renamed, so a crash never leaves half a key. */
function writeNewKey(file: string, stateDir: string): LoadedSaltKey {
  const key = randomBytes(KEY_BYTES);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.tmp`, `${key.toString('hex')}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    return { key, problem: null };
  } catch (error) {
    return { key, problem: `cannot write ${file}: ${(error as Error).message}` };
  }
}
