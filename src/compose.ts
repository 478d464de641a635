/**
 * Allot composed from its parts, whatever the runtime: given a store, a way
 * to open the limiter and the cluster, transports, a token counter and the
 * runtime's files, it builds the registry, scheduler, admission, migration,
 * health, alerts and the HTTP app, and says how to start and stop them.
 * Node (boot.ts) and Cloudflare Workers (src/cf/) each bring their parts and
 * run this same composition: there is no fork of the wiring.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ResolvedConfig } from './config/resolve.ts';
import { ConfigError } from './config/resolve.ts';
import type { Cluster } from './cluster/local.ts';
import { relayCluster } from './cluster/relay.ts';
import type { Clock } from './core/clock.ts';
import { Events } from './events.ts';
import { buildApp } from './http/app.ts';
import type { AppDeps } from './http/deps.ts';
import type { DashboardAssets } from './http/dashboard-assets.ts';
import type { LimitedResource, Limiter } from './limiter/limiter.ts';
import { Metrics } from './metrics.ts';
import type { V2Importer } from './migrate/importer.ts';
import { ProgressTokens } from './scheduler/progress-token.ts';
import { PAUSED_SETTING, Scheduler } from './scheduler/scheduler.ts';
import { Admission } from './service/admission.ts';
import { Auth } from './service/auth.ts';
import { hashSecret, newSecret } from './service/ids.ts';
import { Registry } from './service/registry.ts';
import { SecretKeyError, type Secrets } from './service/secrets.ts';
import type { TokenCounter } from './service/token-counter.ts';
import type { Encoding } from './service/tokenizer.ts';
import { Waiters } from './service/waiters.ts';
import type { Store } from './store/store.ts';
import { References } from './workers/references.ts';
import type { Transport } from './workers/transport.ts';
import { V2Transport } from './workers/v2-transport.ts';
import { Migration } from './migrate/side-by-side.ts';
import { MigrationSettings } from './migrate/switches.ts';
import { WorkerHealth } from './workers/health.ts';
import { applyBreakerOrders } from './workers/breaker-orders.ts';
import { Serial } from './core/serial.ts';
import { PullTransport } from './workers/pull-transport.ts';
import { AlertMonitor } from './service/alert-monitor.ts';
import { alerts as alertConditions } from './service/alerts.ts';
import { Webhook } from './service/webhook.ts';

export interface ComposeOptions {
  /** Called with unexpected errors the HTTP layer turned into INTERNAL_ERROR. @default logged */
  readonly onInternalError?: ((err: unknown) => void) | undefined;
}

/** What the runtime brings. */
export interface Platform {
  readonly clock: Clock;
  readonly log: Logger;
  /** Opened and migrated. */
  readonly store: Store;
  /** The database, for logs: the SQLite path, the PostgreSQL URL without its password, or D1. */
  readonly database: string;
  readonly secrets: Secrets;
  readonly version: string;
  /** The token buckets of these resources. */
  openLimiter(resources: Iterable<LimitedResource>): Promise<Limiter>;
  /** This instance among those sharing the database (or alone). */
  openCluster(): Promise<Cluster>;
  /** The runtime's push transports (node:http and subprocesses on Node, fetch on Workers); v2 and pull are added here. */
  transports(references: References): { readonly http: Transport; readonly subprocess: Transport };
  readonly tokens: TokenCounter;
  /** Load a tokenizer encoding now rather than on first use, where the runtime can. */
  readonly preloadEncoding?: ((e: Encoding) => void) | undefined;
  readonly dashboardAssets: DashboardAssets;
  /** Whether /metrics has the process's own (CPU, memory, event loop). @default true */
  readonly processMetrics?: boolean | undefined;
  readonly v2Import: (d: Pick<AppDeps, 'store' | 'registry' | 'config' | 'clock' | 'events' | 'scheduler' | 'migration'>) => V2Importer;
}

/** Allot wired up but not listening: the HTTP app, its dependencies, start and stop. */
export interface Allot {
  readonly app: ReturnType<typeof buildApp>;
  readonly deps: AppDeps;
  readonly store: Store;
  readonly scheduler: Scheduler;
  readonly events: Events;
  readonly log: Logger;
  /** The database, for logs: the SQLite path or the PostgreSQL URL without its password. */
  readonly database: string;
  /** Set only when this start generated the admin key: print it once. */
  readonly generatedAdminKey: string | undefined;
  /** Where workers reach Allot (progress URLs); known once something listens. */
  setPublicUrl(url: string): void;
  /** Start scheduling. Idempotent. */
  start(): Promise<void>;
  /** Drain the scheduler (at most `drainMs`, default 10 s), close transports and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
}

export async function composeAllot(config: ResolvedConfig, p: Platform, opts: ComposeOptions = {}): Promise<Allot> {
  const { clock, log, store, secrets } = p;
  // Admin key: from the environment, or generated once; either way its hash is kept, so that a restart with another
  // key, or none, says what happens instead of silently replacing the one that worked before.
  let generatedAdminKey: string | undefined;
  let adminHash: string;
  const stored = await store.getSetting('admin_key_hash');
  if (config.adminKey) {
    adminHash = hashSecret(config.adminKey);
    if (stored === null) await store.setSettingIfAbsent('admin_key_hash', adminHash);
    else if (stored !== adminHash) {
      await store.putSetting('admin_key_hash', adminHash, 'startup: ALLOT_ADMIN_KEY');
      log.warn('ALLOT_ADMIN_KEY is not the admin key this database had: it replaces it, and the previous key no longer works (the change is in the audit log)');
    }
  } else if (stored !== null) {
    adminHash = stored;
    log.warn('ALLOT_ADMIN_KEY is not set: the admin key of an earlier start (kept in the database as a hash) stays the admin key; no new key was made');
  } else {
    const k = newSecret('adm');
    adminHash = await store.setSettingIfAbsent('admin_key_hash', k.hash);
    if (adminHash === k.hash) generatedAdminKey = k.key;
  }

  const registry = new Registry(store, config.tiers, config.resources, secrets);
  try {
    await registry.load();
  } catch (err) {
    if (!(err instanceof SecretKeyError)) throw err;
    await store.close();
    throw new ConfigError([`ALLOT_SECRET_KEY: ${err.message}`], 'environment');
  }
  // Load the encodings the token resources count in now (~250 ms each), not on some client's first request.
  for (const enc of new Set([...registry.resources.values()].map((r) => r.tokenizer).filter((e) => e !== undefined))) p.preloadEncoding?.(enc);
  await applyConfigEntities(config, registry, store);
  // The token buckets: local (levels in the SQLite store), shared in Redis (scale-out) or in Durable Objects (Workers).
  const limiter = await p.openLimiter(registry.resources.values()).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });

  const events = new Events();
  // Shared by every instance on the database (a worker may post progress to any of them), and kept across restarts.
  const progressTokens = new ProgressTokens(Buffer.from(await store.setSettingIfAbsent('progress_token_secret', randomBytes(32).toString('base64')), 'base64'));
  const references = new References(store, clock);
  const transports = { ...p.transports(references), v2: new V2Transport(references), pull: new PullTransport() };
  let publicUrl = config.publicUrl ?? '';
  const cluster = await p.openCluster().catch(async (err: unknown) => {
    await limiter.close();
    await store.close();
    throw err;
  });
  const instanceId = cluster.id;
  const scheduler = new Scheduler(
    { store, registry, events, clock, transports, progressTokens, references, limiter },
    {
      instanceId, starvationMs: config.starvationMs, holdAfterMs: config.holdAfterMs, deferred: config.deferred, fairnessHalfLifeMs: config.fairnessHalfLifeMs,
      leaseGraceMs: config.leaseGraceMs, pullLeaseMs: config.pullLeaseMs, reaperIntervalMs: config.reaperIntervalMs, publicUrl: () => publicUrl,
    },
  );
  const mc = config.migration;
  const migrationSettings = await MigrationSettings.load(store, clock, { mode: mc.mode, rolloutPercent: mc.rolloutPercent, shadow: mc.shadow, shadowPercent: mc.shadowPercent, legacyConfigured: Boolean(mc.legacyUrl) });
  const tokens = p.tokens;
  const admission = new Admission({
    store, registry, scheduler, events, clock, tokens, budgetTimeZone: config.budgetTimeZone, starvationMs: config.starvationMs, maxQueueDepth: config.maxQueueDepth, maxJsonDepth: config.maxJsonDepth,
    route: (id) => migrationSettings.route(id),
  });
  const migration = new Migration({
    store, events, clock, log, config: mc, settings: migrationSettings, admission, registry, cancel: (id, actor) => scheduler.cancel(id, actor),
  });
  const health = new WorkerHealth({ registry, events, clock }, config.workerHealth);
  registry.setAvailability((name) => health.available(name));
  const metrics = new Metrics(events, scheduler, () => store.openAlerts(), tokens, p.processMetrics ?? true);
  const ac = config.alerts;
  const alertMonitor = new AlertMonitor(
    {
      store, clock, events, log, conditions: () => alertConditions({ scheduler, registry, store, admission, health, clock }, ac.thresholds),
      webhook: ac.webhookUrl ? new Webhook(ac.webhookUrl, log, { secret: ac.webhookSecret }) : null,
    },
    { intervalMs: ac.intervalMs },
  );
  events.on('alert:fired', (a) => log.warn({ alert: a.kind, subject: a.subject, severity: a.severity }, `alert firing: ${a.message}`));
  events.on('alert:escalated', (a) => log.warn({ alert: a.kind, subject: a.subject, severity: a.severity }, `alert escalated: ${a.message}`));
  events.on('alert:resolved', (a) => log.info({ alert: a.kind, subject: a.subject }, 'alert resolved'));
  const sweeper = setInterval(() => void references.sweep().catch((err: unknown) => log.error({ err }, 'reference sweep failed')), 60_000);
  sweeper.unref();
  const waiters = new Waiters(events);
  const adminChanges = new Serial();
  /** What admins change, re-read from the store (another instance may have changed it); never while this instance makes such a change. */
  function refreshShared(): Promise<void> {
    return adminChanges.run(rereadShared);
  }
  async function rereadShared(): Promise<void> {
    // A key revoked elsewhere stops working here now, not when its cache entry ages out (service/auth.ts).
    auth.forgetKeys();
    const before = JSON.stringify([...registry.resources.values()]);
    await registry.load();
    // Pools or capacities changed on another instance: this one draws by the new ones too (levels live in Redis).
    const resourcesChanged = JSON.stringify([...registry.resources.values()]) !== before;
    if (resourcesChanged) await limiter.configure(registry.resources.values());
    await migrationSettings.reload();
    const paused = (await store.getSetting(PAUSED_SETTING)) === 'true';
    const pauseChanged = paused !== scheduler.paused;
    if (paused && !scheduler.paused) scheduler.pause();
    if (!paused && scheduler.paused) scheduler.resume();
    // Breaker orders given through another instance (each announces itself as 'worker:breaker' when it changes a breaker here).
    await applyBreakerOrders(store, health, registry.workers().map((w) => w.name));
    if (pauseChanged) events.emit('admin:reloaded', 'scheduler pause');
    if (resourcesChanged) events.emit('admin:reloaded', 'resources');
  }
  const auth = new Auth(store, registry, adminHash, clock, (err) => log.warn({ err }, "recording a key's last use failed"));
  const unrelay = cluster.shared
    ? relayCluster({
      bus: cluster.bus, events, store, scheduler, interested: (id) => waiters.has(id), resyncMs: 5 * (config.scaleOut?.pollMs ?? 1_000), refresh: refreshShared,
      onError: (err, what) => log.warn({ err }, `cluster relay: ${what} failed`),
    })
    : () => {};
  cluster.onLeadership((leading, term, reason) => {
    if (leading) log.info({ instance: instanceId, term }, 'elected: this instance schedules');
    else log.warn({ instance: instanceId, reason }, 'no longer the scheduler');
    void scheduler.lead(leading).catch((err: unknown) => log.error({ err }, 'taking over the scheduler failed'));
    alertMonitor.lead(leading);
    // v2 requests an instance that died was sending or following are picked up by the new leader (v2 dedupes a repeated submit).
    if (leading) void migration.adopt().catch((err: unknown) => log.error({ err }, 'picking up v2 requests failed'));
  });
  const deps: AppDeps = {
    store, registry, scheduler, admission, events, clock, metrics, progressTokens, transports, adminChanges, auth, waiters,
    references, health, migration, alerts: alertMonitor, config, startedAt: clock.now(), version: p.version, cluster,
    dashboardAssets: p.dashboardAssets,
    v2Import: p.v2Import({ store, registry, config, clock, events, scheduler, migration }),
  };
  const access = log.child({ log: 'access' });
  const app = buildApp(deps, {
    onInternalError: opts.onInternalError ?? ((err) => log.error({ err }, 'internal error')),
    // One line per request, at info: a level above that costs nothing per request.
    accessLog: log.isLevelEnabled('info') ? (e) => access.info(e, `${e.method} ${e.path} ${e.status} ${e.ms} ms`) : undefined,
  });
  events.on('worker:error', (worker, e) => log.debug({ worker, code: e.code, msg: e.message }, 'worker error'));
  events.on('worker:breaker', (worker, state, reason) => {
    if (state === 'open') log.warn({ worker, reason }, 'worker taken out of rotation (circuit breaker open)');
    else log.info({ worker, breaker: state, reason }, 'worker breaker changed');
    // Requests for the worker were left waiting: give them a pass now that it may take work again.
    if (state !== 'open') scheduler.kick();
  });
  // A pull worker asking for work: the scheduler looks for some it could take.
  transports.pull.onDemand(() => scheduler.kick());
  events.on('worker:transport', (worker, from, to) => log.warn({ worker, from, to }, 'worker transport switched: its GET /health claims another protocol'));
  events.on('request:stale-result', (id, token) => log.warn({ id, token }, 'result under a stale lease refused'));
  events.on('request:overuse', (id, o) => log.warn({ id, workers: o.workers, output_tokens: o.outputTokens, resources: o.resources }, 'worker reported usage beyond what the job allowed (charged, flagged)'));

  let stopping: Promise<void> | undefined;
  let adopter: NodeJS.Timeout | undefined;
  return {
    app, deps, store, scheduler, events, log, generatedAdminKey, database: p.database,
    setPublicUrl(url) {
      publicUrl ||= url;
    },
    async start() {
      // Alone, this instance schedules; scaled out, it keeps a replica until it is elected.
      if ((await store.getSetting(PAUSED_SETTING)) === 'true') scheduler.pause();
      await scheduler.start(!cluster.shared);
      await applyBreakerOrders(store, health, registry.workers().map((w) => w.name));
      health.start();
      await migration.start();
      alertMonitor.start(!cluster.shared);
      // Last: an election may hand this instance the scheduler (and the alert checks) at once.
      await cluster.start(publicUrl || null);
      if (cluster.shared && migration.forwarder) {
        // A follower that dies leaves its v2 requests unfollowed: the leader looks for them every resync.
        adopter = setInterval(() => {
          if (scheduler.leading) void migration.adopt().catch((err: unknown) => log.error({ err }, 'picking up v2 requests failed'));
        }, 5 * (config.scaleOut?.pollMs ?? 1_000));
        adopter.unref();
      }
    },
    stop(drainMs) {
      stopping ??= (async () => {
        clearInterval(sweeper);
        clearInterval(adopter);
        // Hand the lease over first: another instance schedules while this one drains what it dispatched.
        await cluster.resign();
        unrelay();
        await alertMonitor.stop();
        await health.stop();
        await migration.stop();
        await scheduler.stop(drainMs);
        await limiter.close();
        // Then leave: what this instance still leased is taken back by the new leader at once.
        await cluster.stop();
        for (const t of Object.values(transports)) await t.close();
        await tokens.close();
        await store.close();
      })();
      return stopping;
    },
  };
}

/** Workers and templates from the config file are written to the store (only when changed). */
async function applyConfigEntities(config: ResolvedConfig, registry: Registry, store: Store): Promise<void> {
  for (const w of config.workers) {
    const cur = registry.worker(w.name);
    if (!cur || JSON.stringify(cur) !== JSON.stringify(w)) await registry.putWorker(w, 'config');
  }
  const issues: string[] = [];
  for (const t of config.templates) {
    if (!registry.worker(t.worker)) issues.push(`templates.${t.name}.worker: no worker named "${t.worker}" in the config or the database`);
  }
  if (issues.length) {
    await store.close();
    throw new ConfigError(issues, config.configPath ?? 'config');
  }
  for (const t of config.templates) {
    const cur = registry.template(t.name);
    if (!cur || JSON.stringify(cur) !== JSON.stringify(t)) await registry.putTemplate(t, 'config');
  }
}

/**
 * The key worker tokens are sealed with: ALLOT_SECRET_KEY, else a generated
 * one (a key file beside the SQLite database, or the shared database's
 * `secret_key` setting in the scale-out mode, where instances share no folder).
 */
