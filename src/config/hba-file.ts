// The hba_file as the pooler reads it: every line pgtide cannot honour is a problem named by
// the key and the line, and the file is refused as a whole (see src/auth/hba.ts for why).
import { readFileSync, statSync } from 'node:fs';
import { formatHbaProblem, parseHba, type HbaProblem, type HbaRules } from '../auth/hba.js';
import { cannotRead, ConfigError } from './problems.js';
import type { Config } from './types.js';

/** Bounds what one file (or @file) can make pgtide read into memory. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The rules, or null when hba_file is unset. Throws a ConfigError naming hba_file and each bad line. */
export function readHbaFile(config: Config, source?: string): HbaRules | null {
  if (!config.hba_file) return null;
  const problems = hbaFileProblems(config.hba_file);
  if ('rules' in problems) {
    const missing: string[] = [];
    // PostgreSQL refuses such a file without ssl_ca_file the same way.
    if (problems.needsClientCerts && config.client_tls_ca_file === '') {
      missing.push(
        'client certificates can only be checked if a root certificate store is available: set client_tls_ca_file (lines with cert or clientcert)',
      );
    }
    if (problems.needsGroups && config.auth_user === '') {
      missing.push(
        "+group and samerole need the user's role memberships, which pgtide looks up on the server as auth_user: set auth_user",
      );
    }
    if (missing.length === 0) return problems;
    throw new ConfigError(
      missing.map((message) => ({ key: 'hba_file', message: `${config.hba_file}: ${message}` })),
      source,
    );
  }
  throw new ConfigError(
    problems.map((problem) => ({ key: 'hba_file', message: formatHbaProblem(problem) })),
    source,
  );
}

/** The parsed file, or its problems (an unreadable file is one problem at line 0). */
export function hbaFileProblems(path: string): HbaRules | HbaProblem[] {
  let text: string;
  try {
    text = readText(path);
  } catch (error) {
    return [{ file: path, line: 0, text: '', message: cannotRead(path, error) }];
  }
  const parsed = parseHba(text, path, readText);
  return parsed.ok ? parsed.hba : parsed.problems;
}

function readText(path: string): string {
  if (statSync(path).size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
  return readFileSync(path, 'utf8');
}
