/** Everything the HTTP app needs, built by main (or a test) and passed to buildApp. */
import type { Serial } from '../core/serial.ts';
import type { PullTransport } from '../workers/pull-transport.ts';
import type { Clock } from '../core/clock.ts';
import type { Events } from '../events.ts';
import type { Metrics } from '../metrics.ts';
import type { AlertMonitor } from '../service/alert-monitor.ts';
import type { Migration } from '../migrate/side-by-side.ts';
import type { ProgressTokens } from '../scheduler/progress-token.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { Admission } from '../service/admission.ts';
import type { Auth, Principal } from '../service/auth.ts';
import type { Registry } from '../service/registry.ts';
import type { Waiters } from '../service/waiters.ts';
import type { Cluster } from '../cluster/cluster.ts';
import type { Store } from '../store/store.ts';
import type { References } from '../workers/references.ts';
import type { WorkerHealth } from '../workers/health.ts';
import type { ResolvedConfig } from '../config/resolve.ts';
import type { V2Importer } from '../migrate/importer.ts';
import type { DashboardAssets } from './dashboard-assets.ts';

export interface AppDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly scheduler: Scheduler;
  readonly admission: Admission;
  readonly auth: Auth;
  readonly waiters: Waiters;
  readonly references: References;
  readonly health: WorkerHealth;
  /** Alerts with firing/resolved state, and their webhook. */
  readonly alerts: AlertMonitor;
  /** Side by side with Orchestrator v2: routing switches, forwarder, shadow mode. */
  readonly migration: Migration;
  readonly events: Events;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly progressTokens: ProgressTokens;
  /** The pull workers' rendezvous (src/workers/pull-transport.ts). */
  readonly transports: { readonly pull: PullTransport };
  /** Admin changes and the re-reads of what admins change (boot.ts refreshShared) run one at a time. */
  readonly adminChanges: Serial;
  readonly config: Pick<ResolvedConfig, 'maxBodyBytes' | 'maxBufferedBodyBytes' | 'metricsToken' | 'secretKey' | 'executeWaitMs' | 'maxExecuteWaitMs' | 'budgetTimeZone' | 'dbPath' | 'dbSync' | 'scaleOut' | 'compressMinBytes' | 'starvationMs' | 'pullLeaseMs' | 'leaseGraceMs'>;
  readonly startedAt: number;
  readonly version: string;
  /** The dashboard's static files (read by the runtime: src/http/dashboard-files.ts on Node). */
  readonly dashboardAssets: DashboardAssets;
  /** POST /admin/migration/import's work (src/migrate/node-importer.ts on Node). */
  readonly v2Import: V2Importer;
  /** This instance among those sharing its database (scale-out mode), for /status. */
  readonly cluster: Pick<Cluster, 'id' | 'shared' | 'instances' | 'leaderUrl'>;
}

export interface Env {
  Variables: { principal: Principal; /** The body was read (an error answer need not close the connection). */ bodyRead?: boolean };
}
