/**
 * The scheduler's parts, built together because they call each other: each
 * gets the shared state and this record, and reaches the others through it
 * only when called, never while being built.
 */
import { BucketAdmin } from './bucket-admin.ts';
import { Deferred } from './deferred.ts';
import { Progress } from './progress.ts';
import type { SchedulerState } from './state.ts';
import { Views } from './views.ts';

export class Parts {
  readonly loop: { kick(): void };
  readonly deferred: Deferred;
  readonly progress: Progress;
  readonly views: Views;
  readonly admin: BucketAdmin;

  constructor(s: SchedulerState, loop: { kick(): void }) {
    this.loop = loop;
    this.deferred = new Deferred(s, this);
    this.progress = new Progress(s);
    this.views = new Views(s);
    this.admin = new BucketAdmin(s, this);
  }
}
