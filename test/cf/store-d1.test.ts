/**
 * The store contract on D1, run inside a local workerd (miniflare):
 * test/cf/store-d1.workerd.ts, each of its tests reported here.
 */
import { mirrorWorkerdSuite } from './workerd-suite.ts';

await mirrorWorkerdSuite('in workerd', {
  suite: 'test/cf/store-d1.workerd.ts',
  miniflare: { d1Databases: ['DB'] },
});
