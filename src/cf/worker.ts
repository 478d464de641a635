/**
 * The Worker's entry (wrangler.toml `main`): every request goes to the one
 * Durable Object that runs Allot (allot-object.ts). It also exports the
 * objects' classes and gives the runtime what Workers cannot load from
 * files: the tokenizer's encodings and the dashboard's files, bundled in.
 */
import dashboard from 'allot:dashboard';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as p50k } from 'gpt-tokenizer/encoding/p50k_base';
import { countTokens as r50k } from 'gpt-tokenizer/encoding/r50k_base';
import { registerEncoding } from '../service/tokenizer.ts';
import { DASHBOARD_FILES } from '../http/dashboard-assets.ts';
import pkg from '../../package.json' with { type: 'json' };
import { setDashboardAssets, setVersion, type AllotEnv } from './allot-object.ts';

export { AllotObject } from './allot-object.ts';
export { BucketObject } from './bucket-object.ts';
export { GrantsObject } from './grants-object.ts';

setVersion(pkg.version);
registerEncoding('cl100k_base', cl100k);
registerEncoding('o200k_base', o200k);
registerEncoding('p50k_base', p50k);
registerEncoding('r50k_base', r50k);
setDashboardAssets(new Map(Object.entries(DASHBOARD_FILES).map(([path, f]) => [path, { body: dashboard[f.file] ?? '', type: f.type }])));

export default {
  fetch(request: Request, env: AllotEnv): Promise<Response> {
    const stub = env.ALLOT.get(env.ALLOT.idFromName('allot')) as unknown as { fetch(r: Request): Promise<Response> };
    return stub.fetch(request);
  },
};

