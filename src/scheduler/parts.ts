/**
 * The scheduler's parts, built together because they call each other: each
 * gets the shared state and this record, and reaches the others through it
 * only when called, never while being built.
 */
import { BucketAdmin } from './bucket-admin.ts';
import { Deferred } from './deferred.ts';
import { Dispatch } from './dispatch.ts';
import { Gate } from './gate.ts';
import { Holds } from './holds.ts';
import { Intake } from './intake.ts';
import { Loop } from './loop.ts';
import { Progress } from './progress.ts';
import { Reconcile } from './reconcile.ts';
import type { SchedulerState } from './state.ts';
import { Views } from './views.ts';

export class Parts {
  readonly loop: Loop;
  readonly dispatch: Dispatch;
  readonly reconcile: Reconcile;
  readonly intake: Intake;
  readonly gate: Gate;
  readonly holds: Holds;
  readonly deferred: Deferred;
  readonly progress: Progress;
  readonly views: Views;
  readonly admin: BucketAdmin;

  constructor(s: SchedulerState) {
    this.loop = new Loop(s, this);
    this.intake = new Intake(s, this);
    this.gate = new Gate(s, this);
    this.holds = new Holds(s, this);
    this.dispatch = new Dispatch(s, this);
    this.reconcile = new Reconcile(s, this);
    this.deferred = new Deferred(s, this);
    this.progress = new Progress(s);
    this.views = new Views(s);
    this.admin = new BucketAdmin(s, this);
  }
}
