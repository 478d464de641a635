/**
 * The composition root: resolved config → store → registry → scheduler →
 * HTTP app → listening server. main.ts and the end-to-end tests both start
 * Allot through `startAllot`, so they run the same wiring.
 */
import { serve, type ServerType } from '@hono/node-server';

import type { AddressInfo } from 'node:net';
import { pino, stdTimeFunctions, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { ResolvedConfig } from './config/resolve.ts';
import { ConfigError } from './config/resolve.ts';
import { localCluster, pgCluster } from './cluster/cluster.ts';
import { redactUrl } from './core/redact.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { Events } from './events.ts';
import { openLimiter } from './limiter/open.ts';
import { composeAllot, type Allot } from './compose.ts';
import { readDashboardAssets } from './http/dashboard-files.ts';
import { nodeV2Importer } from './migrate/node-importer.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { SecretKeyError, Secrets, sharedSecrets } from './service/secrets.ts';
import { TokenCounter } from './service/token-counter.ts';
import { preload as preloadEncoding } from './service/tokenizer.ts';
import { openAndMigrate } from './store/open.ts';
import type { Store } from './store/store.ts';
import { HttpTransport } from './workers/http-transport.ts';
import { SubprocessTransport } from './workers/subprocess-transport.ts';

export type { Allot } from './compose.ts';

import { VERSION } from './version.ts';

export { VERSION };

export interface BuildOptions {
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default pino at config.logLevel */
  readonly logger?: Logger;
  /** Called with unexpected errors the HTTP layer turned into INTERNAL_ERROR. @default logged */
  readonly onInternalError?: (err: unknown) => void;
}

/** Allot on Node: the store from the config (SQLite, or PostgreSQL with Redis), node:http and subprocess workers, the tokenizer on a thread. */
/**
 * pino: readable lines (pino-pretty, in this process) on a terminal or with
 * ALLOT_LOG_FORMAT=pretty; otherwise JSON, with the level by name and the
 * time as ISO 8601, one object a line.
 */
/** @param destination where the lines go (tests); standard output by default */
export function nodeLogger(config: Pick<ResolvedConfig, 'logLevel' | 'logFormat'>, destination?: NodeJS.WritableStream): Logger {
  const format = config.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json');
  if (format === 'json') {
    const o = { level: config.logLevel, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };
    return destination ? pino(o, destination) : pino(o);
  }
  return pino({ level: config.logLevel }, pretty({
    colorize: !destination && Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,log', singleLine: true, sync: true,
    ...(destination ? { destination } : {}),
  }));
}

export async function buildAllot(config: ResolvedConfig, opts: BuildOptions = {}): Promise<Allot> {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? nodeLogger(config);
  const opened = await openAndMigrate(config, {
    onFatal: (err) => {
      // Memory has moved past what the disk holds; only a restart from disk is consistent.
      log.fatal({ err }, 'database commit failed; exiting so that state is rebuilt from disk');
      process.exit(1);
    },
  });
  const store = opened.store;
  for (const w of opened.warnings) log.warn(w);
  for (const m of opened.migrations) if (m.status === 'applied') log.info({ migration: m.version }, `migration ${m.version} ${m.name} applied`);
  let secrets: Secrets;
  try {
    secrets = await loadSecrets(config, store, log);
  } catch (err) {
    await store.close();
    throw err;
  }
  return composeAllot(config, {
    clock, log, store, secrets, database: opened.describe, version: VERSION,
    openLimiter: (resources) => openLimiter(config, store, resources, clock, log),
    openCluster: async () => {
      if (!config.scaleOut) return localCluster();
      return pgCluster(config.scaleOut, { version: VERSION, onError: (err, what) => log.warn({ err }, `cluster: ${what} failed`) }).catch((err: unknown) => {
        throw new ConfigError([`ALLOT_DATABASE_URL: cannot join the cluster at ${redactUrl(config.scaleOut?.databaseUrl)}: ${(err as Error).message}`], 'environment');
      });
    },
    transports: () => ({ http: new HttpTransport(), subprocess: new SubprocessTransport() }),
    // Large inputs are counted on a worker thread, so that one client's megabytes do not hold up the server.
    tokens: new TokenCounter({ compressMinBytes: config.compressMinBytes }),
    preloadEncoding,
    dashboardAssets: readDashboardAssets(),
    v2Import: nodeV2Importer,
  }, { onInternalError: opts.onInternalError });
}

export interface RunningAllot {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly scheduler: Scheduler;
  readonly events: Events;
  /** Set only when this start generated the admin key: print it once. */
  readonly generatedAdminKey: string | undefined;
  stop(): Promise<void>;
}

/** Build Allot, listen on config.host:config.port, start scheduling. */
export async function startAllot(config: ResolvedConfig, opts: BuildOptions = {}): Promise<RunningAllot> {
  const allot = await buildAllot(config, opts);
  const server: ServerType = await new Promise((resolve, reject) => {
    const lim = config.server;
    const s = serve(
      {
        fetch: allot.app.fetch, hostname: config.host, port: config.port,
        // A slow or stalled client is cut off (408), and connections are bounded: what a flood can hold is bounded.
        serverOptions: { requestTimeout: lim.requestTimeoutMs, headersTimeout: lim.headersTimeoutMs, keepAliveTimeout: lim.keepAliveTimeoutMs, connectionsCheckingInterval: Math.min(1_000, lim.headersTimeoutMs) },
      },
      () => resolve(s),
    );
    (s as { maxConnections?: number }).maxConnections = lim.maxConnections;
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  allot.setPublicUrl(url);
  await allot.start();
  allot.log.info({ url, db: allot.database, version: VERSION }, 'allot listening');

  let stopping: Promise<void> | undefined;
  return {
    url, port, store: allot.store, scheduler: allot.scheduler, events: allot.events, generatedAdminKey: allot.generatedAdminKey,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await allot.stop();
      })();
      return stopping;
    },
  };
}

async function loadSecrets(config: ResolvedConfig, store: Store, log: Logger): Promise<Secrets> {
  try {
    if (!config.scaleOut) return Secrets.load({ secretKey: config.secretKey, dbPath: config.dbPath });
    if (!config.secretKey) log.warn('ALLOT_SECRET_KEY is not set: worker tokens are sealed with a key kept in the database itself (setting secret_key); set ALLOT_SECRET_KEY on every instance to keep it out of database dumps');
    return await sharedSecrets(store, config.secretKey);
  } catch (err) {
    if (err instanceof SecretKeyError) throw new ConfigError([`ALLOT_SECRET_KEY: ${err.message}`], 'environment');
    throw err;
  }
}
