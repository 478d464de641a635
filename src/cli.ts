/**
 * `allot <command>` (the package's bin, bin/allot.ts): the commands are
 * declared in src/cli/program.ts; only this file decides how the process ends.
 */
import { VERSION } from './version.ts';
import { run } from './cli/program.ts';

const code = await run(process.argv.slice(2), VERSION);
if (code >= 0) process.exitCode = code;
