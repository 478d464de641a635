/**
 * The one place configuration is read: environment variables and the
 * optional config file (ALLOT_CONFIG) → a frozen `ResolvedConfig`. Every
 * problem is collected and reported together, each naming its key.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import type { Resource, Tier } from '../model.ts';
import { validateWindows, type DeferredPolicy, type OffPeakWindow } from '../core/offpeak.ts';
import { validatePools } from '../core/pools.ts';
import { DEFAULT_RESOURCES, DEFAULT_TIERS, DEFAULTS } from './defaults.ts';
import { resolveMigration, type MigrationConfig } from './migration.ts';
import { resolveScaleOut, type ScaleOutConfig } from './scale-out.ts';
import { toTemplateDef, toWorkerDef } from './entities.ts';
import { configInput, nameSchema, resourceInput, tierInput } from './schema.ts';
import { DEFAULT_MAX_JSON_DEPTH } from './bounds.ts';
import { defaultInputOverhead, encodingForModel } from '../core/model-names.ts';
import type { TemplateDef, WorkerDef } from '../model.ts';
import { DEFAULT_THRESHOLDS, type AlertThresholds } from '../service/alerts.ts';
import { parse as parseYaml } from 'yaml';

export interface ResolvedConfig {
  readonly host: string;
  readonly port: number;
  /** Base URL workers use to reach Allot (progress); derived from host:port when unset. */
  readonly publicUrl: string | undefined;
  /** The SQLite file (the embedded mode; also where the secret key file sits when ALLOT_SECRET_KEY is unset). */
  readonly dbPath: string;
  /** PostgreSQL and Redis (ALLOT_DATABASE_URL, ALLOT_REDIS_URL): several instances share the work. Undefined = SQLite. */
  readonly scaleOut: ScaleOutConfig | undefined;
  readonly dbSync: 'NORMAL' | 'FULL';
  readonly logLevel: string;
  /** ALLOT_LOG_FORMAT: `json`, or `pretty` (readable); unset, pretty on a terminal and JSON otherwise. */
  readonly logFormat: 'json' | 'pretty' | undefined;
  readonly adminKey: string | undefined;
  readonly configPath: string | undefined;
  readonly starvationMs: number;
  readonly holdAfterMs: number;
  /** When deferred work may run. */
  readonly deferred: DeferredPolicy;
  readonly fairnessHalfLifeMs: number;
  readonly leaseGraceMs: number;
  /** config `scheduler.pull_lease_ms`: a pull worker's lease on a job, renewed by its heartbeats. */
  readonly pullLeaseMs: number;
  readonly reaperIntervalMs: number;
  readonly maxQueueDepth: number;
  readonly maxBodyBytes: number;
  /** Inputs and parameters may nest objects and arrays at most this deep. */
  readonly maxJsonDepth: number;
  /** Bytes of request bodies being received at once, all connections. */
  readonly maxBufferedBodyBytes: number;
  /** The HTTP server's limits: open connections, and how long a request may take to arrive. */
  readonly server: { readonly maxConnections: number; readonly requestTimeoutMs: number; readonly headersTimeoutMs: number; readonly keepAliveTimeoutMs: number };
  /** Encrypts worker tokens at rest (ALLOT_SECRET_KEY); absent: a key file beside the database. */
  readonly secretKey: string | undefined;
  /** Bearer token that may read /metrics besides the admin key (ALLOT_METRICS_TOKEN). */
  readonly metricsToken: string | undefined;
  readonly compressMinBytes: number;
  readonly executeWaitMs: number;
  readonly maxExecuteWaitMs: number;
  readonly budgetTimeZone: string;
  /** Alert checks and their webhook (config `alerts`, ALLOT_ALERT_WEBHOOK_URL, ALLOT_ALERT_WEBHOOK_SECRET). */
  readonly alerts: { readonly intervalMs: number; readonly webhookUrl: string | undefined; readonly webhookSecret: string | undefined; readonly thresholds: AlertThresholds };
  /** Worker health probes and circuit breaker (config `worker_health`). */
  readonly workerHealth: { readonly intervalMs: number; readonly timeoutMs: number; readonly failureThreshold: number; readonly cooldownMs: number };
  /** Side by side with Orchestrator v2 (config `migration`, ALLOT_LEGACY_URL, ALLOT_LEGACY_TOKEN). */
  readonly migration: MigrationConfig;
  readonly tiers: ReadonlyMap<string, Tier>;
  readonly resources: ReadonlyMap<string, Resource>;
  readonly workers: readonly WorkerDef[];
  readonly templates: readonly TemplateDef[];
}

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: string[], source: string) {
    super(`Invalid configuration (${source}):\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function zodIssues(err: z.ZodError, prefix: string): string[] {
  return err.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    if (i.code === 'unrecognized_keys') return `${[path, ...i.keys].filter(Boolean).join('.')}: unknown key`;
    return `${path || '(root)'}: ${i.message}`;
  });
}

function intEnv(env: Env, key: string, issues: string[], min: number, max: number): number | undefined {
  const v = env[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    issues.push(`${key}: must be an integer from ${min} to ${max}, got "${v}"`);
    return undefined;
  }
  return n;
}

type Parsed = z.output<typeof configInput>;
type Section = keyof Parsed;
const SECTIONS = configInput.shape;
const NAMED: ReadonlySet<Section> = new Set(['tiers', 'resources', 'workers', 'templates']);

function parseEntries<S extends z.ZodType>(entries: Record<string, unknown>, schema: S, prefix: string, issues: string[]): Record<string, z.output<S>> {
  const out: Record<string, z.output<S>> = {};
  for (const [name, value] of Object.entries(entries)) {
    if (!nameSchema.safeParse(name).success) {
      issues.push(`${prefix}.${name}: names must be 1-64 letters, digits, ".", "_" or "-"`);
      continue;
    }
    const r = schema.safeParse(value);
    if (r.success) out[name] = r.data;
    else issues.push(...zodIssues(r.error, `${prefix}.${name}`));
  }
  return out;
}

function parseSections(raw: unknown, issues: string[]): Partial<Parsed> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push('(root): the config file must hold a JSON object');
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(SECTIONS, key)) {
      issues.push(`${key}: unknown key (known: ${Object.keys(SECTIONS).join(', ')})`);
      continue;
    }
    const section = key as Section;
    const schema = SECTIONS[section].unwrap();
    if (NAMED.has(section)) {
      if (!value || typeof value !== 'object' || Array.isArray(value)) issues.push(`${key}: must be an object of named entries`);
      else out[key] = parseEntries(value as Record<string, unknown>, (schema as unknown as z.ZodRecord<z.ZodString, z.ZodType>).valueType, key, issues);
      continue;
    }
    const r = schema.safeParse(value);
    if (r.success) out[key] = r.data;
    else issues.push(...zodIssues(r.error, key));
  }
  return out as Partial<Parsed>;
}

/** pino's levels: what ALLOT_LOG_LEVEL may be. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Environment values checked before anything starts, each named with what it should be. */
function checkEnvValues(env: Env, issues: string[]): void {
  const level = env.ALLOT_LOG_LEVEL;
  if (level && !(LOG_LEVELS as readonly string[]).includes(level)) issues.push(`ALLOT_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  const format = env.ALLOT_LOG_FORMAT;
  if (format && format !== 'json' && format !== 'pretty') issues.push(`ALLOT_LOG_FORMAT: expected json or pretty, got "${format}"`);
  const pub = env.ALLOT_PUBLIC_URL;
  if (pub && !/^https?:\/\/[^/\s]+/.test(pub)) issues.push(`ALLOT_PUBLIC_URL: must be an http(s) URL where workers reach Allot (e.g. https://allot.example.com), got "${pub}"`);
}

/**
 * `${NAME}` in any string of the config file is the environment variable
 * NAME, so secrets (webhook secrets, worker tokens) stay out of the file;
 * `$${` is a literal `${`. A variable that is not set is an issue naming the
 * key and the variable.
 */
function substituteEnv(v: unknown, env: Env, path: string, issues: string[]): unknown {
  if (typeof v === 'string') {
    if (!v.includes('${')) return v;
    return v.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => {
      if (m.startsWith('$$')) return m.slice(1);
      const value = env[name];
      if (value === undefined) {
        issues.push(`${path || '(root)'}: \${${name}} is not set in the environment`);
        return m;
      }
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substituteEnv(x, env, `${path}[${i}]`, issues));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substituteEnv(x, env, path ? `${path}.${k}` : k, issues)]));
  return v;
}

/** Resolve config from `env` (process.env in main) and the file it names (JSON, or YAML by its extension). Throws ConfigError. */
export function resolveConfig(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ResolvedConfig {
  const issues: string[] = [];
  const configPath = env.ALLOT_CONFIG || undefined;
  let raw: unknown = {};
  if (configPath) {
    const yamlFile = /\.ya?ml$/i.test(configPath);
    try {
      const text = readFile(configPath);
      raw = yamlFile ? parseYaml(text) : JSON.parse(text);
    } catch (err) {
      throw new ConfigError([`ALLOT_CONFIG: cannot read "${configPath}" as ${yamlFile ? 'YAML' : 'JSON'}: ${(err as Error).message}`], configPath);
    }
    raw = substituteEnv(raw, env, '', issues);
  }
  checkEnvValues(env, issues);
  // Each section and each named entry is checked on its own, so that one bad
  // entry does not hide problems elsewhere: every issue is reported at once.
  const c = parseSections(raw, issues);

  const tiers = new Map<string, Tier>();
  for (const [name, v] of Object.entries({ ...parseEntries(DEFAULT_TIERS, tierInput, 'tiers', issues), ...c.tiers })) {
    tiers.set(name, { name, priorityPoints: v.priority_points, maxConcurrent: v.max_concurrent, monthlyBudgetUsd: v.monthly_budget_usd });
  }
  const resources = new Map<string, Resource>();
  const models = new Map<string, string>();
  for (const [name, v] of Object.entries({ ...parseEntries(DEFAULT_RESOURCES, resourceInput, 'resources', issues), ...c.resources })) {
    if (v.kind === 'tokens' && !v.model) issues.push(`resources.${name}.model: required for kind "tokens"`);
    if (v.kind !== 'tokens' && (v.input_cost_per_unit_usd !== undefined || v.output_cost_per_unit_usd !== undefined)) {
      issues.push(`resources.${name}: input/output prices only apply to kind "tokens"`);
    }
    if (v.kind !== 'tokens' && (v.tokenizer !== undefined || v.input_overhead_tokens !== undefined)) {
      issues.push(`resources.${name}: tokenizer and input_overhead_tokens only apply to kind "tokens"`);
    }
    if (v.model) {
      const prior = models.get(v.model);
      if (prior) issues.push(`resources.${name}.model: "${v.model}" is already the model of resources.${prior}`);
      models.set(v.model, name);
    }
    const pools = v.pools ?? [];
    issues.push(...validatePools(pools, new Set(tiers.keys())).map((m) => `resources.${name}.${m}`));
    resources.set(name, {
      name, kind: v.kind, model: v.model, unit: v.unit, capacity: v.capacity, refillPerS: v.refill_per_s, pools,
      price: { costPerUnitUsd: v.cost_per_unit_usd, inputCostPerUnitUsd: v.input_cost_per_unit_usd, outputCostPerUnitUsd: v.output_cost_per_unit_usd },
      ...(v.kind === 'tokens' && v.model
        ? { tokenizer: v.tokenizer ?? encodingForModel(v.model), inputOverheadTokens: v.input_overhead_tokens ?? defaultInputOverhead(v.model) }
        : {}),
    });
  }
  const workers: WorkerDef[] = [];
  for (const [name, w] of Object.entries(c.workers ?? {})) {
    const { def, issues: wi } = toWorkerDef(name, w, 'config');
    issues.push(...wi.map((i) => `workers.${name}.${i}`));
    workers.push(def);
  }
  const templates: TemplateDef[] = [];
  for (const [name, t] of Object.entries(c.templates ?? {})) {
    // Templates may name workers registered through the API earlier; boot re-checks against the store.
    const { def, issues: ti } = toTemplateDef(name, t, 'config', { resources, workerExists: () => true });
    issues.push(...ti.map((i) => `templates.${name}.${i}`));
    templates.push(def);
  }

  const tz = c.budget?.time_zone ?? env.ALLOT_BUDGET_TZ ?? DEFAULTS.budgetTimeZone;
  try {
    Intl.DateTimeFormat('en', { timeZone: tz }).format(0);
  } catch {
    issues.push(`budget.time_zone: "${tz}" is not an IANA time zone`);
  }
  const offpeak = c.scheduler?.offpeak;
  const windows = offpeak?.windows ?? [];
  issues.push(...validateWindows(windows).map((m) => `scheduler.offpeak.${m}`));
  const offpeakTz = offpeak?.time_zone ?? tz;
  try {
    Intl.DateTimeFormat('en', { timeZone: offpeakTz }).format(0);
  } catch {
    issues.push(`scheduler.offpeak.time_zone: "${offpeakTz}" is not an IANA time zone`);
  }
  const low = offpeak?.low_utilization === undefined ? DEFAULTS.deferredLowUtilization : offpeak.low_utilization && { below: offpeak.low_utilization.below, forMs: offpeak.low_utilization.for_ms };
  const deferred: DeferredPolicy = Object.freeze({ windows: windows as OffPeakWindow[], timeZone: offpeakTz, lowUtilization: low });
  const webhookUrl = env.ALLOT_ALERT_WEBHOOK_URL || c.alerts?.webhook_url;
  if (env.ALLOT_ALERT_WEBHOOK_URL && !/^https?:\/\/[^/]/.test(env.ALLOT_ALERT_WEBHOOK_URL)) issues.push(`ALLOT_ALERT_WEBHOOK_URL: must be an http(s) URL, got "${env.ALLOT_ALERT_WEBHOOK_URL}"`);
  const th = c.alerts?.thresholds;
  const alerts = Object.freeze({
    intervalMs: c.alerts?.interval_ms ?? DEFAULTS.alertIntervalMs, webhookUrl, webhookSecret: env.ALLOT_ALERT_WEBHOOK_SECRET || c.alerts?.webhook_secret,
    thresholds: Object.freeze({
      poolLowBelow: th?.pool_low?.below ?? DEFAULT_THRESHOLDS.poolLowBelow,
      budgetHighAbove: th?.budget_high?.above ?? DEFAULT_THRESHOLDS.budgetHighAbove,
      queueBackupAbove: th?.queue_backup?.above ?? DEFAULT_THRESHOLDS.queueBackupAbove,
      starvingAfterMs: th?.request_starving?.after_ms ?? DEFAULT_THRESHOLDS.starvingAfterMs,
      overuseWindowMs: th?.worker_overuse?.window_ms ?? DEFAULT_THRESHOLDS.overuseWindowMs,
    }),
  });
  const wh = c.worker_health;
  const workerHealth = Object.freeze({
    intervalMs: wh?.interval_ms ?? DEFAULTS.workerHealth.intervalMs, timeoutMs: wh?.timeout_ms ?? DEFAULTS.workerHealth.timeoutMs,
    failureThreshold: wh?.failure_threshold ?? DEFAULTS.workerHealth.failureThreshold, cooldownMs: wh?.cooldown_ms ?? DEFAULTS.workerHealth.cooldownMs,
  });
  if (workerHealth.timeoutMs >= workerHealth.intervalMs) issues.push(`worker_health.timeout_ms: must be less than interval_ms (${workerHealth.intervalMs}), got ${workerHealth.timeoutMs}`);
  const migration = resolveMigration(c.migration, env, issues);
  const scaleOut = resolveScaleOut(c, env, issues);
  const port = intEnv(env, 'ALLOT_PORT', issues, 0, 65535);
  const sync = env.ALLOT_DB_SYNC;
  if (sync !== undefined && sync !== 'NORMAL' && sync !== 'FULL') issues.push(`ALLOT_DB_SYNC: must be NORMAL or FULL, got "${sync}"`);
  const adminKey = env.ALLOT_ADMIN_KEY || undefined;
  if (adminKey !== undefined && adminKey.length < 16) issues.push('ALLOT_ADMIN_KEY: must be at least 16 characters');
  const secretKey = env.ALLOT_SECRET_KEY || undefined;
  if (secretKey !== undefined && secretKey.length < 16) issues.push('ALLOT_SECRET_KEY: must be at least 16 characters');
  const metricsToken = env.ALLOT_METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) issues.push('ALLOT_METRICS_TOKEN: must be at least 16 characters');
  const lim = c.limits;
  const server = Object.freeze({
    maxConnections: lim?.max_connections ?? DEFAULTS.maxConnections,
    requestTimeoutMs: lim?.request_timeout_ms ?? DEFAULTS.requestTimeoutMs,
    headersTimeoutMs: lim?.headers_timeout_ms ?? Math.min(DEFAULTS.headersTimeoutMs, lim?.request_timeout_ms ?? DEFAULTS.requestTimeoutMs),
    keepAliveTimeoutMs: lim?.keep_alive_timeout_ms ?? DEFAULTS.keepAliveTimeoutMs,
  });
  if (server.headersTimeoutMs > server.requestTimeoutMs) issues.push(`limits.headers_timeout_ms: must not exceed request_timeout_ms (${server.requestTimeoutMs}), got ${server.headersTimeoutMs}`);
  const maxBodyBytes = lim?.max_body_bytes ?? DEFAULTS.maxBodyBytes;
  const maxBufferedBodyBytes = lim?.max_buffered_body_bytes ?? Math.max(DEFAULTS.maxBufferedBodyBytes, maxBodyBytes);
  if (maxBufferedBodyBytes < maxBodyBytes) issues.push(`limits.max_buffered_body_bytes: must be at least max_body_bytes (${maxBodyBytes}), got ${maxBufferedBodyBytes}`);
  if (issues.length) throw new ConfigError(issues, configPath ?? 'environment');

  return Object.freeze({
    host: env.ALLOT_HOST || c.server?.host || DEFAULTS.host,
    port: port ?? c.server?.port ?? DEFAULTS.port,
    publicUrl: env.ALLOT_PUBLIC_URL || c.server?.public_url,
    dbPath: env.ALLOT_DB || c.database?.path || DEFAULTS.dbPath,
    scaleOut,
    dbSync: (sync as 'NORMAL' | 'FULL' | undefined) ?? c.database?.synchronous ?? DEFAULTS.dbSync,
    logLevel: env.ALLOT_LOG_LEVEL || DEFAULTS.logLevel,
    logFormat: env.ALLOT_LOG_FORMAT === 'json' || env.ALLOT_LOG_FORMAT === 'pretty' ? env.ALLOT_LOG_FORMAT : undefined,
    adminKey,
    configPath,
    starvationMs: c.scheduler?.starvation_ms ?? DEFAULTS.starvationMs,
    holdAfterMs: c.scheduler?.hold_after_ms ?? DEFAULTS.holdAfterMs,
    deferred,
    fairnessHalfLifeMs: c.scheduler?.fairness_half_life_ms ?? DEFAULTS.fairnessHalfLifeMs,
    leaseGraceMs: c.scheduler?.lease_grace_ms ?? DEFAULTS.leaseGraceMs,
    pullLeaseMs: c.scheduler?.pull_lease_ms ?? DEFAULTS.pullLeaseMs,
    reaperIntervalMs: c.scheduler?.reaper_interval_ms ?? DEFAULTS.reaperIntervalMs,
    maxQueueDepth: c.scheduler?.max_queue_depth ?? DEFAULTS.maxQueueDepth,
    maxBodyBytes,
    maxBufferedBodyBytes,
    maxJsonDepth: lim?.max_json_depth ?? DEFAULT_MAX_JSON_DEPTH,
    server,
    secretKey,
    metricsToken,
    compressMinBytes: c.limits?.compress_min_bytes ?? 4096,
    executeWaitMs: DEFAULTS.executeWaitMs,
    maxExecuteWaitMs: DEFAULTS.maxExecuteWaitMs,
    budgetTimeZone: tz,
    migration,
    workerHealth,
    alerts,
    tiers,
    resources,
    workers: Object.freeze(workers),
    templates: Object.freeze(templates),
  });
}
