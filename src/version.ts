// pgtide's version, from the package.json next to dist/ (the image and npm installs both ship
// it). Read when this module loads, once: the console's SHOW VERSION may be polled.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const version = (manifest as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const PGTIDE_VERSION = readVersion();
