// The CLI's first import, run before any other module loads (see cli.ts). From here on SIGUSR1
// cannot open Node.js's inspector (a debugger port without a password) nor SIGUSR2 end the
// process, whatever the command (`start` then gives them PgBouncer's meaning: PAUSE, RESUME).
// And a pooler started directly runs itself again with its young generation's size now, not
// after loading every module: what is left to Node.js's defaults is the few tens of
// milliseconds in which Node.js itself starts. (Its --disable-sigusr1 flag would close that
// too, but it keeps SIGUSR1 from pgtide's own listener as well.)
import { SIGNAL_COMMANDS } from './admin/signal-commands.js';
import { execWithYoungGenerationCap } from './young-generation.js';

for (const signal of SIGNAL_COMMANDS.keys()) process.on(signal, () => {});

// A supervisor (--supervise) spawns its pooler with the size: it stays as it is.
const argv = process.argv.slice(2);
if (argv[0] === 'start' && !argv.includes('--supervise')) execWithYoungGenerationCap();
