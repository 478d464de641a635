/**
 * The Worker's bindings, as wrangler.toml declares them: one D1 database and
 * three Durable Object classes (all SQLite-backed). `npm run dev:cf` and the
 * tests bind the same names; test/cf/wrangler-config.test.ts checks that
 * wrangler.toml says the same.
 */
export const WORKER_BINDINGS = {
  d1: 'DB',
  durableObjects: [
    { binding: 'ALLOT', className: 'AllotObject' },
    { binding: 'BUCKETS', className: 'BucketObject' },
    { binding: 'GRANTS', className: 'GrantsObject' },
  ],
} as const;
