// Settings the seed's files have no source for, which the import chooses. state_dir: without it
// a restarted pgtide in front of several backends may write to an old primary back on an older
// timeline while the new one cannot be reached, and the SCRAM salts of unknown users change at
// each restart (docs/configuration.md, state_dir). Inside the image, admin_http_listen: the
// image's HEALTHCHECK asks /healthz there, and without it a container runs unhealthy for good.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { setKey, type ImportContext } from './context.js';

/** The directory the image makes for state_dir (docker/pgtide.toml, Dockerfile). */
export const IMAGE_STATE_DIR = '/var/lib/pgtide';
/** Where the image's HEALTHCHECK_URL points (Dockerfile, docker/pgtide.toml). */
export const IMAGE_HEALTH_LISTEN = '127.0.0.1:9127';

export interface StateDirOptions {
  /** --state-dir: the operator's choice; '' leaves state_dir unset. */
  stateDir?: string;
  /** Where the image keeps its state; a parameter so tests need not own /var/lib. */
  imageStateDir?: string;
}

const PURPOSE =
  'state_dir keeps the newest WAL timeline seen (a restarted pgtide never writes to an old primary back on an older timeline) and the SCRAM salt key.';

export function mapStateDir(ctx: ImportContext, options: StateDirOptions, backends: number): void {
  const given = options.stateDir;
  if (given !== undefined && given !== '') {
    setKey(ctx, 'state_dir', resolve(given), { file: '--state-dir', line: 0 }, PURPOSE);
    return;
  }
  const imageDir = options.imageStateDir ?? IMAGE_STATE_DIR;
  if (given === undefined && isDirectory(imageDir)) {
    setKey(
      ctx,
      'state_dir',
      imageDir,
      { file: 'pgtide import', line: 0 },
      `${PURPOSE}\nThe image's directory, found where this import ran; --state-dir chooses another.`,
    );
    return;
  }
  ctx.draft.comment(
    PURPOSE,
    given === undefined
      ? `Not set: no --state-dir, and ${imageDir} (the image's) does not exist where this import ran.`
      : 'Not set: --state-dir was given empty.',
    `state_dir = "${imageDir}"   # a directory the user running pgtide can write`,
  );
  if (given === undefined && backends > 1)
    ctx.warnings.push(
      `state_dir is not set (${imageDir} does not exist here): after a restart, pgtide recognises an old primary back on an older timeline only while the new primary can be reached; pass --state-dir DIR (the image's is ${imageDir}) or set state_dir in the file`,
    );
}

/** Inside the image (its state directory exists where the import runs), the address its
 *  HEALTHCHECK asks; elsewhere nothing. */
export function mapImageHealth(ctx: ImportContext, options: StateDirOptions): void {
  const imageDir = options.imageStateDir ?? IMAGE_STATE_DIR;
  if (!isDirectory(imageDir)) return;
  ctx.draft.heading("The image's health check");
  setKey(
    ctx,
    'admin_http_listen',
    IMAGE_HEALTH_LISTEN,
    { file: 'pgtide import', line: 0 },
    `The image's HEALTHCHECK asks http://${IMAGE_HEALTH_LISTEN}/healthz (${imageDir}, the image's, exists where this import ran).`,
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
