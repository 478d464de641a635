/** The Durable Object classes of Allot on Workers (exported by the Worker's entry; bundled alone by the limiter's tests). */
export { BucketObject } from './bucket-object.ts';
export { GrantsObject } from './grants-object.ts';
