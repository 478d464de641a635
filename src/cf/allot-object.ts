/**
 * Allot on Cloudflare Workers: one Durable Object runs the same composition
 * as a Node process (src/compose.ts), the scheduler's one instance, with
 * Workers parts: the D1 store, the Durable Object limiter (a bucket per
 * object), push workers over fetch, the tokenizer inline (no threads). The
 * Worker (worker.ts) hands it every HTTP request.
 *
 * Alarms: while anything is queued, waiting to retry or running, the object
 * keeps an alarm a second ahead; each one gives the scheduler a pass (due
 * retries, expired leases, off-peak windows), so work goes on even if the
 * runtime sets the object's timers aside between requests.
 *
 * Not on Workers: subprocess workers (no processes), importing a v2 database
 * file (no file system: import on Node into the same D1 database instead).
 */
import { pino } from 'pino';
import { localCluster } from '../cluster/local.ts';
import { composeAllot, type Allot } from '../compose.ts';
import { AllotError } from '../core/errors.ts';
import { systemClock } from '../core/clock.ts';
import { ConfigError, resolveConfig } from '../config/resolve.ts';
import type { DashboardAssets } from '../http/dashboard-assets.ts';
import { DurableLimiter } from '../limiter/durable/durable-limiter.ts';
import { SecretKeyError, sharedSecrets } from '../service/secrets.ts';
import { TokenCounter } from '../service/token-counter.ts';
import { D1Store } from '../store/d1/d1-store.ts';
import type { D1Like } from '../store/d1/context.ts';
import { FetchTransport } from '../workers/fetch-transport.ts';
import type { Transport } from '../workers/transport.ts';
import type { DurableNamespaceLike } from './durable.ts';

/** The Worker's bindings and variables (wrangler.toml). */
export interface AllotEnv {
  readonly DB: D1Like;
  readonly ALLOT: DurableNamespaceLike;
  readonly BUCKETS: DurableNamespaceLike;
  readonly GRANTS: DurableNamespaceLike;
  /** The configuration file's content (JSON), instead of a file: tiers, resources, workers, templates… */
  readonly ALLOT_CONFIG_JSON?: string;
  readonly [name: string]: unknown;
}

interface AlarmState {
  readonly storage: { setAlarm(at: number): Promise<void>; getAlarm(): Promise<number | null> };
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** A worker that cannot run on Workers: every dispatch fails, saying why. */
const noSubprocess: Transport = {
  dispatch: async (w) => ({ ok: false, error: { code: 'WORKER_UNAVAILABLE', message: `Worker "${w.name}" is a subprocess worker, which Allot on Workers cannot run`, retryable: false }, usage: null }),
  close: async () => {},
};

/** The dashboard's files and Allot's version, set by the entry (bundled in). */
let dashboard: DashboardAssets = new Map();
let version = '0.0.0';
export function setDashboardAssets(a: DashboardAssets): void {
  dashboard = a;
}
export function setVersion(v: string): void {
  version = v;
}

export class AllotObject {
  readonly #state: AlarmState;
  readonly #env: AllotEnv;
  #allot: Allot | undefined;
  #failed: Error | undefined;
  #origin: string | undefined;
  /** Whether an alarm is set (undefined: not read yet). */
  #alarmSet: boolean | undefined;

  constructor(state: AlarmState, env: AllotEnv) {
    this.#state = state;
    this.#env = env;
    void state.blockConcurrencyWhile(() => this.#start().catch((err: unknown) => {
      this.#failed = err as Error;
    }));
  }

  async #start(): Promise<void> {
    const env = this.#env;
    const vars = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    const config = resolveConfig(
      { ...vars, ...(env.ALLOT_CONFIG_JSON ? { ALLOT_CONFIG: 'wrangler:ALLOT_CONFIG_JSON' } : {}) },
      (path) => {
        if (path === 'wrangler:ALLOT_CONFIG_JSON' && env.ALLOT_CONFIG_JSON) return env.ALLOT_CONFIG_JSON;
        throw new ConfigError([`${path}: Allot on Workers reads its configuration from the ALLOT_CONFIG_JSON variable, not files`], 'environment');
      },
    );
    const log = pino({ level: config.logLevel, browser: { asObject: false } });
    const store = new D1Store(env.DB, { compressMinBytes: config.compressMinBytes });
    await store.migrate();
    let secrets;
    try {
      secrets = await sharedSecrets(store, config.secretKey);
    } catch (err) {
      if (err instanceof SecretKeyError) throw new ConfigError([`ALLOT_SECRET_KEY: ${err.message}`], 'environment');
      throw err;
    }
    this.#allot = await composeAllot(config, {
      clock: systemClock, log, store, secrets, database: 'D1 (binding DB)', version,
      openLimiter: (resources) => DurableLimiter.open({ buckets: env.BUCKETS, grants: env.GRANTS, resources }),
      openCluster: async () => localCluster(),
      transports: () => ({ http: new FetchTransport(), subprocess: noSubprocess }),
      // No threads on Workers: every input is counted inline.
      tokens: new TokenCounter({ inlineChars: Number.POSITIVE_INFINITY, compressMinBytes: config.compressMinBytes }),
      dashboardAssets: dashboard,
      // Workers have no process to measure (no CPU usage, no event loop lag).
      processMetrics: false,
      v2Import: () => async () => {
        throw new AllotError('VALIDATION_ERROR', 'Allot on Workers cannot read a v2 database file: run `npx allot migrate import` on Node against the same data, or POST it to a Node instance');
      },
    });
    await this.#allot.start();
    await this.#keepAwake();
  }

  async fetch(request: Request): Promise<Response> {
    if (this.#failed) {
      const e = this.#failed;
      const message = e instanceof ConfigError ? e.message : `Allot could not start: ${e.message}`;
      return Response.json({ error: { code: 'CONFIG_ERROR', message } }, { status: 500 });
    }
    const allot = this.#allot as Allot;
    if (!this.#origin) {
      // Workers reach Allot (progress URLs) where its clients do, unless ALLOT_PUBLIC_URL says otherwise.
      this.#origin = new URL(request.url).origin;
      allot.setPublicUrl(this.#origin);
    }
    try {
      return await allot.app.fetch(request);
    } finally {
      void this.#keepAwake();
    }
  }

  /** A pass of the scheduler, and the next alarm while there is work. */
  async alarm(): Promise<void> {
    this.#alarmSet = false;
    this.#allot?.scheduler.kick();
    await this.#keepAwake();
  }

  async #keepAwake(): Promise<void> {
    const s = this.#allot?.scheduler;
    if (!s) return;
    // Read from the scheduler's memory, not the database: this runs after every request.
    if (s.queueDepth + s.runningCount + s.waitingRetries() === 0) return;
    // Whether one is set is known here once read (a new object may find one its predecessor set), not read again.
    this.#alarmSet ??= (await this.#state.storage.getAlarm()) !== null;
    if (this.#alarmSet) return;
    this.#alarmSet = true;
    await this.#state.storage.setAlarm(Date.now() + 1_000);
  }
}
