#!/usr/bin/env node
// The command line. What early-start does runs before anything else loads: every module a
// static import names is loaded before any of them runs, which took a few hundred
// milliseconds in which SIGUSR1 or SIGUSR2 still did what Node.js does with them.
import './early-start.js';

await import('./cli-main.js');
