/**
 * Allot and Orchestrator v2 side by side: the switches (switches.ts), the
 * forwarder that runs v2-routed requests (forwarder.ts) and shadow mode
 * (shadow.ts), wired once by boot.ts. Without a legacy URL only the
 * switches exist and every request runs in Allot.
 */
import type { Logger } from 'pino';
import type { MigrationConfig } from '../config/migration.ts';
import { MIGRATION_DEFAULTS } from '../config/migration.ts';
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import { nanoToUsd } from '../core/money.ts';
import type { Events } from '../events.ts';
import type { WorkRequest } from '../model.ts';
import type { Admission } from '../service/admission.ts';
import type { Registry } from '../service/registry.ts';
import type { Store } from '../store/store.ts';
import { Forwarder } from './forwarder.ts';
import { LegacyClient } from './legacy-client.ts';
import { LegacyPoller } from './poller.ts';
import { Shadow } from './shadow.ts';
import type { MigrationSettings } from './switches.ts';

export interface MigrationDeps {
  readonly store: Store;
  readonly events: Events;
  readonly clock: Clock;
  readonly log: Logger;
  readonly config: MigrationConfig;
  readonly settings: MigrationSettings;
  readonly admission: Admission;
  readonly registry: Registry;
  /** Cancel an Allot request (scheduler.cancel). */
  cancel(id: string, actor: string): Promise<unknown>;
}

export class Migration {
  readonly settings: MigrationSettings;
  readonly legacy: LegacyClient | null;
  readonly forwarder: Forwarder | null;
  readonly shadow: Shadow | null;
  readonly #d: MigrationDeps;
  readonly #poller: LegacyPoller | null;
  #started: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(d: MigrationDeps) {
    this.#d = d;
    this.settings = d.settings;
    const c = d.config;
    if (!c.legacyUrl) {
      this.legacy = this.forwarder = this.shadow = this.#poller = null;
      return;
    }
    const legacy = new LegacyClient(c.legacyUrl, { token: c.legacyToken, callTimeoutMs: MIGRATION_DEFAULTS.callTimeoutMs });
    const poller = new LegacyPoller(legacy, d.clock, { intervalMs: c.pollIntervalMs });
    this.legacy = legacy;
    this.#poller = poller;
    this.forwarder = new Forwarder({ store: d.store, events: d.events, clock: d.clock, legacy, poller, log: d.log, timeoutMs: c.timeoutMs });
    this.shadow = new Shadow({
      store: d.store, events: d.events, clock: d.clock, legacy, poller, settings: d.settings, log: d.log, timeoutMs: c.timeoutMs,
      tolerances: { costTolerance: c.costTolerance, latencyFactor: c.latencyFactor, latencyFloorMs: c.latencyFloorMs },
      submitCopy: (p) => this.#submitCopy(p),
      cancel: (id) => d.cancel(id, 'migration:shadow'),
    });
  }

  /** Pick up v2 requests left unfinished by the previous run. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const n = (await this.forwarder?.resume()) ?? 0;
      if (n) this.#d.log.info({ requests: n }, 'following unfinished Orchestrator v2 requests again');
      const open = (await this.shadow?.resume()) ?? 0;
      if (open) this.#d.log.info({ comparisons: open }, 'resuming open shadow comparisons');
    })();
    return this.#started;
  }

  /**
   * Scaled out, on the instance that was just elected: send or follow every
   * unfinished v2 request, including those an instance that died had taken
   * (one that is alive and still following it costs a second poll; a
   * repeated submit finds v2's execution). Returns how many.
   */
  async adopt(): Promise<number> {
    await this.start();
    return (await this.forwarder?.resume()) ?? 0;
  }

  /** Stop sending to and polling v2; unfinished v2 requests are resumed at the next start. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#poller?.stop();
      await this.forwarder?.stop();
      await this.shadow?.stop();
    })();
    return this.#stopping;
  }

  /** The rollout, shadow differences and progress, as GET /admin/migration and `allot migrate status` show them. */
  async status() {
    const s = this.settings.current;
    const counts = await this.#d.store.countBySystem();
    const summary = await this.#d.store.shadowSummary();
    const total = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
    const inFlight = (c: Record<string, number>): number => (c.PENDING ?? 0) + (c.PREPARING ?? 0) + (c.RUNNING ?? 0) + (c.WAITING_RETRY ?? 0);
    const allot = total(counts.allot);
    const v2 = total(counts.v2);
    const toAllot = !this.settings.legacyConfigured ? 100 : s.rollback || s.mode === 'v2' ? 0 : s.mode === 'allot' ? 100 : s.rolloutPercent;
    return {
      legacy_url: this.legacy?.url ?? null,
      mode: s.mode,
      rollout_percent: s.rolloutPercent,
      shadow: s.shadow,
      shadow_percent: s.shadowPercent,
      shadowing: this.settings.shadowing,
      rollback: s.rollback,
      rolled_back_at: s.rolledBackAt === null ? null : new Date(s.rolledBackAt).toISOString(),
      updated_at: s.updatedAt === null ? null : new Date(s.updatedAt).toISOString(),
      source: s.source,
      new_requests_to_allot_percent: toAllot,
      requests: { allot: counts.allot, v2: counts.v2, shadow_copies: counts.shadowCopies },
      progress: {
        total: allot + v2,
        allot,
        v2,
        allot_share: allot + v2 === 0 ? null : Number((allot / (allot + v2)).toFixed(4)),
        in_flight: { allot: inFlight(counts.allot), v2: inFlight(counts.v2), shadow_copies: inFlight(counts.shadowCopies) },
      },
      shadow_results: { total: summary.total, with_differences: summary.withDifferences, by_field: summary.byField, comparing: this.shadow?.inFlight ?? 0 },
      tolerances: { cost: this.#d.config.costTolerance, latency_factor: this.#d.config.latencyFactor, latency_floor_ms: this.#d.config.latencyFloorMs },
    };
  }

  /** Shadow comparisons, newest first, as the API shows them. */
  async shadowResults(f: { limit?: number; afterSeq?: number; differencesOnly?: boolean }) {
    const side = (x: { status: string; output: unknown; costNano: number; latencyMs: number | null }) => ({ status: x.status, output: x.output, cost_usd: nanoToUsd(x.costNano), latency_ms: x.latencyMs });
    return (await this.#d.store.listShadow(f)).map((r) => ({
      seq: r.seq ?? null, at: new Date(r.at).toISOString(), request_id: r.requestId, template: r.template, primary: r.primary, differences: r.differences, allot: side(r.allot), v2: side(r.v2),
    }));
  }

  async #submitCopy(p: WorkRequest): Promise<WorkRequest> {
    const client = this.#d.registry.client(p.clientId);
    if (!client) throw new AllotError('NOT_FOUND', `No client ${p.clientId}`);
    const body = { template: p.template, input: p.input as Record<string, unknown>, parameters: p.parameters, urgency: p.urgency, ...(p.model ? { max_tokens: p.maxTokens } : {}) };
    return (await this.#d.admission.submit(client, body, undefined, { shadowOf: p.id })).request;
  }
}
