/** `npm run build:cf`: the Worker bundled to dist/cf/worker.mjs, for wrangler.toml's `main` (deployed with no_bundle). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleForWorkers } from './build.ts';

const root = new URL('../../', import.meta.url).pathname;
const b = await bundleForWorkers(join(root, 'src/cf/worker.ts'));
mkdirSync(join(root, 'dist/cf'), { recursive: true });
writeFileSync(join(root, 'dist/cf/worker.mjs'), b.code);
console.log(`dist/cf/worker.mjs: ${(b.code.length / 1e6).toFixed(2)} MB; Node built-ins it imports (nodejs_compat): ${b.nodeImports.join(', ')}`);
