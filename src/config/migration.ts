/**
 * The `migration` config section resolved: where the legacy orchestrator is
 * and the routing Allot starts with. The routing (mode, rollout, shadow,
 * rollback) is only the starting point: once an operator changes it through
 * the admin API it is kept in the database and wins over this file, so that
 * a restart never undoes a rollback.
 */
import { MINUTE, SECOND } from '../core/clock.ts';
import type { configInput } from './schema.ts';
import type { z } from 'zod';

export interface MigrationConfig {
  /** Base URL of Orchestrator v2 (`POST /api/execute`, `GET /api/executions/{id}`); undefined = no v2, everything runs in Allot. */
  readonly legacyUrl: string | undefined;
  /** Sent as `Authorization: Bearer` to v2 when set. */
  readonly legacyToken: string | undefined;
  readonly mode: 'allot' | 'v2' | 'rollout';
  /** Share of new requests Allot runs in mode 'rollout', 0-100. */
  readonly rolloutPercent: number;
  readonly shadow: boolean;
  /** Share of new requests shadow mode copies, 0-100 (a stable sample by request id). @default 100 */
  readonly shadowPercent: number;
  /** How often v2 executions are polled. @default 500 ms */
  readonly pollIntervalMs: number;
  /** A v2 execution not finished this long after it was sent is failed (REQUEST_TIMEOUT) and cancelled in v2. @default 10 minutes */
  readonly timeoutMs: number;
  /** Shadow comparison tolerances (src/migrate/differences.ts). */
  readonly costTolerance: number;
  readonly latencyFactor: number;
  readonly latencyFloorMs: number;
}

export const MIGRATION_DEFAULTS = Object.freeze({
  mode: 'allot' as const,
  rolloutPercent: 0,
  shadow: false,
  shadowPercent: 100,
  pollIntervalMs: 500,
  timeoutMs: 10 * MINUTE,
  costTolerance: 0.01,
  latencyFactor: 2,
  latencyFloorMs: 250,
  /** One HTTP call to v2 (submit, poll, cancel) gives up after this long. */
  callTimeoutMs: 10 * SECOND,
});

type Input = z.output<typeof configInput>['migration'];

/** Resolve the section; problems are pushed to `issues`, each naming its key. */
export function resolveMigration(m: Input, env: Readonly<Record<string, string | undefined>>, issues: string[]): MigrationConfig {
  const legacyUrl = env.ALLOT_LEGACY_URL || m?.legacy_url;
  if (env.ALLOT_LEGACY_URL && !/^https?:\/\/[^/]/.test(env.ALLOT_LEGACY_URL)) issues.push(`ALLOT_LEGACY_URL: must be an http(s) URL, got "${env.ALLOT_LEGACY_URL}"`);
  const mode = m?.mode ?? MIGRATION_DEFAULTS.mode;
  if (!legacyUrl && mode !== 'allot') issues.push(`migration.mode: "${mode}" sends work to Orchestrator v2, which needs migration.legacy_url (or ALLOT_LEGACY_URL)`);
  if (!legacyUrl && m?.shadow) issues.push('migration.shadow: shadow mode runs every request on Orchestrator v2 too, which needs migration.legacy_url (or ALLOT_LEGACY_URL)');
  return Object.freeze({
    legacyUrl: legacyUrl?.replace(/\/+$/, ''),
    legacyToken: env.ALLOT_LEGACY_TOKEN || m?.legacy_token,
    mode,
    rolloutPercent: m?.rollout_percent ?? MIGRATION_DEFAULTS.rolloutPercent,
    shadow: m?.shadow ?? MIGRATION_DEFAULTS.shadow,
    shadowPercent: m?.shadow_percent ?? MIGRATION_DEFAULTS.shadowPercent,
    pollIntervalMs: m?.poll_interval_ms ?? MIGRATION_DEFAULTS.pollIntervalMs,
    timeoutMs: m?.timeout_ms ?? MIGRATION_DEFAULTS.timeoutMs,
    costTolerance: m?.cost_tolerance ?? MIGRATION_DEFAULTS.costTolerance,
    latencyFactor: m?.latency_factor ?? MIGRATION_DEFAULTS.latencyFactor,
    latencyFloorMs: m?.latency_floor_ms ?? MIGRATION_DEFAULTS.latencyFloorMs,
  });
}
