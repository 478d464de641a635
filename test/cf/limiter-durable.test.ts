/**
 * The limiter contract on Durable Objects, run inside a local workerd
 * (miniflare): test/cf/limiter.workerd.ts, each of its tests reported here.
 */
import { ROOT } from '../helpers/proc.ts';
import { mirrorWorkerdSuite } from './workerd-suite.ts';

await mirrorWorkerdSuite('in workerd', {
  suite: 'test/cf/limiter.workerd.ts',
  exports: `export { BucketObject, GrantsObject } from ${JSON.stringify(`${ROOT}/src/cf/objects.ts`)};`,
  miniflare: { durableObjects: { BUCKETS: 'BucketObject', GRANTS: { className: 'GrantsObject', useSQLite: true } } },
});
