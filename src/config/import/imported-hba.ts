// An hba file the import points hba_file at (pool_hba.conf, PgBouncer's auth_hba_file): pgtide
// reads it as it is, so the import says now what `pgtide check` would refuse in it.
import { basename } from 'node:path';
import { formatHbaProblem, type HbaProblem, type HbaRules } from '../../auth/hba.js';
import type { ImportContext } from './context.js';

/** Lists the rules in a comment, or warns of the lines pgtide cannot honour; warns too of what
 *  +group, samerole and cert lines need that the import did not set. */
export function describeImportedHba(ctx: ImportContext, path: string, parsed: HbaRules | HbaProblem[]): void {
  const name = basename(path);
  if (Array.isArray(parsed)) {
    ctx.warnings.push(
      `${name}: pgtide cannot honour ${parsed.length} line(s); pgtide check and start refuse hba_file until they are rewritten:\n${parsed.map((problem) => `  ${formatHbaProblem(problem)}`).join('\n')}`,
    );
    return;
  }
  ctx.draft.comment(
    `${name}: ${parsed.rules.length} rules:`,
    ...parsed.rules.map((rule) => `  ${name}:${rule.line}: ${rule.text}`),
  );
  if (parsed.needsGroups && !ctx.draft.has('auth_user')) {
    ctx.warnings.push(
      `${name}: +group or samerole lines need auth_user, as which pgtide looks up role memberships on the server: set it, or pgtide check and start refuse hba_file`,
    );
  }
  if (parsed.needsClientCerts && !ctx.draft.has('client_tls_ca_file')) {
    ctx.warnings.push(
      `${name}: cert or clientcert lines need client TLS and client_tls_ca_file: set them, or pgtide check and start refuse hba_file`,
    );
  }
}
