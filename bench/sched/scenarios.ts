/**
 * The scheduling scenarios, parameterized so that `npm run bench:sched`
 * runs them at full length and test/scheduler/sim.test.ts shortened. Each
 * builds its own Allot (fresh SQLite file) on a virtual clock, drives it
 * through the real admission path, and measures what the real scheduler
 * admitted and when. Every request on a pool is a model request with an
 * empty input, so its size in tokens is exactly its `max_tokens`.
 */
import type { Client } from '../../src/model.ts';
import { FluidArrivals, Sim, type Arrival, type Rec } from './sim.ts';
import { jain, percentile, worstWindowRatio } from './stats.ts';
import { MAX_WAIT_MS } from '../../src/config/bounds.ts';

export interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly value: string;
  readonly target: string;
  /** null: information only, no target. */
  readonly pass: boolean | null;
}

const POOL = 'sim.pool';
const MODEL = 'sim-model';

const f = (v: number, d = 0): string => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : String(v));
const s = (ms: number): string => `${f(ms / 1000, 1)} s`;

function pool(capacity: number, refillPerS: number, costPerToken = 0): Record<string, Record<string, unknown>> {
  // The simulated worker bills exactly max_tokens and no chat overhead, so the scenarios' arithmetic stays exact.
  return { [POOL]: { kind: 'tokens', model: MODEL, unit: 'token', capacity, refill_per_s: refillPerS, cost_per_unit_usd: costPerToken, input_overhead_tokens: 0 } };
}

/** hold_after_ms that no run reaches (the most the config allows, 30 days): disables holds (to isolate what they hide). */
export const HOLD_OFF = MAX_WAIT_MS;

/** How a scenario's scheduler section sets hold_after_ms, for labels. */
export function holdText(scheduler: Record<string, unknown> | undefined): string {
  const h = scheduler?.hold_after_ms;
  if (typeof h !== 'number') return 'hold after 30 s (default)';
  return h >= HOLD_OFF ? 'holds off' : `hold after ${s(h)}`;
}

const claimed = (recs: Iterable<Rec>): Rec[] => [...recs].filter((r) => r.claimedAt !== null);

/** The longest interval between admissions (or up to `end`) during which some request was queued throughout. */
export function longestIdle(recs: readonly Rec[], end: number): number {
  const ts = [...new Set(claimed(recs).map((r) => r.claimedAt as number)), end].toSorted((a, b) => a - b);
  let best = 0;
  for (let i = 1; i < ts.length; i++) {
    const from = ts[i - 1] as number;
    const to = ts[i] as number;
    if (to - from <= best) continue;
    if (recs.some((r) => r.createdAt <= from && (r.claimedAt === null || r.claimedAt >= to))) best = to - from;
  }
  return best;
}

const poolUnits = (r: Rec): number => r.needs[POOL] ?? 0;

// ---- (a) fairness among equal-tier clients ---------------------------------------

export interface FairnessParams {
  readonly clients: number;
  readonly tier: string;
  readonly capacity: number;
  readonly refillPerS: number;
  /** Tokens per request. */
  readonly size: number;
  /** Offered load of each client, in multiples of its fair share of the refill rate (all > 1: everyone floods). */
  readonly demand: readonly number[];
  readonly durationMs: number;
  readonly stepMs: number;
  /** The config's scheduler section (defaults: SPEC's, starvation 10 min, hold after 30 s, fairness half-life 1 min). */
  readonly scheduler?: Record<string, unknown>;
}

export interface FairnessResult {
  /** Tokens admitted per client, in client order. */
  readonly admitted: readonly number[];
  readonly jain: number;
  /** Jain's index over the second half of the run only (steady state). */
  readonly jainSecondHalf: number;
  /** Admitted tokens ÷ what the bucket could admit over the run. */
  readonly utilization: number;
  readonly submitted: number;
  readonly queuedAtEnd: number;
  readonly failures: readonly string[];
}

export async function fairness(p: FairnessParams): Promise<FairnessResult> {
  const sim = await Sim.start({ scheduler: p.scheduler, resources: pool(p.capacity, p.refillPerS), templates: { job: { model: MODEL, max_tokens: p.size } } });
  try {
    const clients: Client[] = [];
    for (let i = 0; i < p.clients; i++) clients.push(await sim.client(`flood-${i}`, p.tier));
    const fairRate = p.refillPerS / p.size / p.clients; // requests/s
    const arrivals = new FluidArrivals(clients.map((client, i) => ({ rate: fairRate * (p.demand[i] ?? 1), make: (): Arrival => ({ client, template: 'job' }) })));
    await sim.run(p.durationMs, p.stepMs, (t) => arrivals.at(t));
    const recs = [...sim.records.values()];
    const admittedBy = (from: number): number[] => clients.map((c) => claimed(recs).filter((r) => r.clientId === c.id && (r.claimedAt as number) >= from).reduce((a, r) => a + poolUnits(r), 0));
    const admitted = admittedBy(0);
    return {
      admitted,
      jain: jain(admitted),
      jainSecondHalf: jain(admittedBy(p.durationMs / 2)),
      utilization: admitted.reduce((a, b) => a + b, 0) / (p.capacity + (p.refillPerS * p.durationMs) / 1000),
      submitted: recs.length,
      queuedAtEnd: recs.filter((r) => r.claimedAt === null).length,
      failures: sim.failures,
    };
  } finally {
    await sim.close();
  }
}

export function fairnessRows(label: string, p: FairnessParams, r: FairnessResult): Row[] {
  const total = Math.max(1, r.admitted.reduce((x, y) => x + y, 0));
  const shares = r.admitted.map((a) => a / total);
  const demand = [...new Set(p.demand.map((d) => f(d, 1)))].join('/');
  const sc = `a ${label}`;
  return [
    {
      scenario: sc, metric: `${p.clients} ${p.tier} clients offering ${demand}× their fair share, ${s(p.durationMs)}, ${holdText(p.scheduler)}: Jain index of admitted tokens`,
      value: f(r.jain, 4), target: '≥ 0.99', pass: r.jain >= 0.99,
    },
    { scenario: sc, metric: 'Jain index over the second half of the run', value: f(r.jainSecondHalf, 4), target: '≥ 0.99', pass: r.jainSecondHalf >= 0.99 },
    { scenario: sc, metric: 'client shares of admitted tokens, min / max', value: `${f(Math.min(...shares) * 100, 1)}% / ${f(Math.max(...shares) * 100, 1)}%`, target: `${f(100 / p.clients, 1)}% each`, pass: null },
    { scenario: sc, metric: 'pool utilization: admitted ÷ (capacity + refill × time)', value: f(r.utilization, 4), target: '≥ 0.99 (saturated)', pass: r.utilization >= 0.99 },
  ];
}

// ---- (b) tiers under saturation ------------------------------------------------------

export interface TiersParams {
  readonly capacity: number;
  readonly refillPerS: number;
  readonly size: number;
  /** Offered load per tier as a share of the refill rate (sum > 1: saturated). */
  readonly offered: Readonly<Record<string, number>>;
  readonly clientsPerTier: number;
  readonly starvationMs: number;
  readonly holdAfterMs: number;
  readonly durationMs: number;
  readonly stepMs: number;
}

export interface TierStats {
  readonly offeredShare: number;
  readonly admittedShare: number;
  readonly admitted: number;
  readonly pendingAtEnd: number;
  /** Over every request submitted; one still queued at the end counts with its wait so far. */
  readonly p99WaitMs: number;
  readonly maxWaitMs: number;
}

export interface TiersResult {
  readonly tiers: Readonly<Record<string, TierStats>>;
  /** starvation_ms + the refill time of one request + one step. */
  readonly boundMs: number;
  readonly utilization: number;
  readonly failures: readonly string[];
}

export async function tiers(p: TiersParams): Promise<TiersResult> {
  const sim = await Sim.start({
    scheduler: { starvation_ms: p.starvationMs, hold_after_ms: p.holdAfterMs },
    resources: pool(p.capacity, p.refillPerS),
    templates: { job: { model: MODEL, max_tokens: p.size } },
  });
  try {
    const tierOf = new Map<string, string>();
    const sources: { rate: number; make: () => Arrival }[] = [];
    for (const [tier, share] of Object.entries(p.offered)) {
      for (let i = 0; i < p.clientsPerTier; i++) {
        const client = await sim.client(`${tier}-${i}`, tier);
        tierOf.set(client.id, tier);
        sources.push({ rate: (share * p.refillPerS) / p.size / p.clientsPerTier, make: () => ({ client, template: 'job' }) });
      }
    }
    const arrivals = new FluidArrivals(sources);
    await sim.run(p.durationMs, p.stepMs, (t) => arrivals.at(t));
    const end = sim.now();
    const recs = [...sim.records.values()];
    const total = claimed(recs).reduce((a, r) => a + poolUnits(r), 0);
    const offeredTotal = Object.values(p.offered).reduce((a, b) => a + b, 0);
    const out: Record<string, TierStats> = {};
    for (const [tier, share] of Object.entries(p.offered)) {
      const mine = recs.filter((r) => tierOf.get(r.clientId) === tier);
      const waits = mine.map((r) => (r.claimedAt ?? end) - r.createdAt).toSorted((a, b) => a - b);
      const adm = claimed(mine);
      out[tier] = {
        offeredShare: share / offeredTotal,
        admittedShare: adm.reduce((a, r) => a + poolUnits(r), 0) / Math.max(1, total),
        admitted: adm.length,
        pendingAtEnd: mine.length - adm.length,
        p99WaitMs: percentile(waits, 0.99),
        maxWaitMs: waits.at(-1) ?? 0,
      };
    }
    return {
      tiers: out,
      boundMs: p.starvationMs + (p.size * 1000) / p.refillPerS + p.stepMs,
      utilization: total / (p.capacity + (p.refillPerS * p.durationMs) / 1000),
      failures: sim.failures,
    };
  } finally {
    await sim.close();
  }
}

export function tiersRows(label: string, p: TiersParams, r: TiersResult): Row[] {
  const rows: Row[] = [];
  const load = Object.values(p.offered).reduce((a, b) => a + b, 0);
  const sc = `b ${label}`;
  rows.push({
    scenario: sc, metric: `${p.clientsPerTier} clients per tier offering ${f(load * 100)}% of refill for ${s(p.durationMs)}, starvation ${s(p.starvationMs)}, ${holdText({ hold_after_ms: p.holdAfterMs })}: pool utilization`,
    value: f(r.utilization, 4), target: '≥ 0.99 (saturated)', pass: r.utilization >= 0.99,
  });
  for (const [tier, t] of Object.entries(r.tiers)) {
    rows.push({
      scenario: sc,
      metric: `${tier}: share of admitted tokens (offered ${f(t.offeredShare * 100, 1)}%); p99 / max wait`,
      value: `${f(t.admittedShare * 100, 1)}%; ${s(t.p99WaitMs)} / ${s(t.maxWaitMs)}${t.pendingAtEnd ? ` (${t.pendingAtEnd} still queued)` : ''}`,
      target: tier === 'basic' ? `max < ${s(r.boundMs)}` : 'info',
      pass: tier === 'basic' ? t.maxWaitMs < r.boundMs : null,
    });
  }
  return rows;
}

// ---- (c) a large request among small ones -----------------------------------------------

export interface LargeParams {
  readonly capacity: number;
  readonly refillPerS: number;
  readonly smallSize: number;
  readonly bigSize: number;
  readonly smallClients: number;
  /** Small requests' offered load, as a multiple of the refill rate (> 1: a saturating stream). */
  readonly overload: number;
  /** When the large request arrives (virtual ms after the stream begins). */
  readonly bigAtMs: number;
  /** How long the stream of small requests lasts. */
  readonly streamMs: number;
  readonly holdAfterMs: number;
  readonly starvationMs: number;
  readonly stepMs: number;
}

export interface LargeResult {
  /** The large request's wait (null: it had not started when the run ended). */
  readonly waitMs: number | null;
  /** Small requests started while it waited. */
  readonly smallsWhileWaiting: number;
  readonly failures: readonly string[];
}

/**
 * Small requests stream in from several clients; one large request (a
 * different template and worker, the same model bucket, the same tier)
 * arrives at `bigAtMs`. The run goes on until it starts, at most until the
 * stream has ended and twice its length more.
 */
export async function large(p: LargeParams): Promise<LargeResult> {
  const sim = await Sim.start({
    scheduler: { starvation_ms: p.starvationMs, hold_after_ms: p.holdAfterMs },
    resources: pool(p.capacity, p.refillPerS),
    templates: { small: { model: MODEL, max_tokens: p.smallSize }, big: { model: MODEL, max_tokens: p.bigSize } },
  });
  try {
    const smalls: Client[] = [];
    for (let i = 0; i < p.smallClients; i++) smalls.push(await sim.client(`small-${i}`, 'standard'));
    const bigClient = await sim.client('big', 'standard');
    const rate = (p.overload * p.refillPerS) / p.smallSize / p.smallClients;
    const stream = new FluidArrivals(smalls.map((client) => ({ rate, make: (): Arrival => ({ client, template: 'small' }) })));
    let bigSent = false;
    const arrivals = (t: number): Arrival[] => {
      const out = t < p.streamMs ? stream.at(t) : [];
      if (!bigSent && t >= p.bigAtMs) {
        bigSent = true;
        out.push({ client: bigClient, template: 'big' });
      }
      return out;
    };
    const big = (): Rec | undefined => [...sim.records.values()].find((r) => r.clientId === bigClient.id);
    await sim.run(p.streamMs * 3, p.stepMs, arrivals, () => (big()?.claimedAt ?? null) !== null);
    const b = big();
    if (!b) throw new Error('the large request was not accepted');
    const startedAt = b.claimedAt;
    const smallsWhileWaiting = claimed(sim.records.values()).filter((r) => r.template === 'small' && (r.claimedAt as number) >= b.createdAt && (startedAt === null || (r.claimedAt as number) < startedAt)).length;
    return { waitMs: startedAt === null ? null : startedAt - b.createdAt, smallsWhileWaiting, failures: sim.failures };
  } finally {
    await sim.close();
  }
}

/** hold_after + the refill time of the large request + two steps. */
export const largeBoundMs = (p: LargeParams): number => p.holdAfterMs + (p.bigSize * 1000) / p.refillPerS + 2 * p.stepMs;

export function largeRows(label: string, p: LargeParams, short: LargeResult, long: LargeResult, hold: boolean): Row[] {
  const w = (r: LargeResult): string => (r.waitMs === null ? 'never' : s(r.waitMs));
  const bound = largeBoundMs(p);
  const ratio = short.waitMs && long.waitMs ? long.waitMs / short.waitMs : NaN;
  const desc = `${f(p.bigSize)}-token request among ${f(p.smallSize)}-token ones at ${f(p.overload, 1)}× refill`;
  if (!hold) {
    return [{
      scenario: `c ${label}`, metric: `${desc}, holds off: wait with stream ${s(p.streamMs)} / ${s(p.streamMs * 2)}`,
      value: `${w(short)} / ${w(long)}`, target: 'info (baseline: grows with the stream)', pass: null,
    }];
  }
  return [
    {
      scenario: `c ${label}`, metric: `${desc}, hold after ${s(p.holdAfterMs)}: wait with stream ${s(p.streamMs)} / ${s(p.streamMs * 2)}`,
      value: `${w(short)} / ${w(long)}`, target: `≤ ${s(bound)} each`, pass: short.waitMs !== null && long.waitMs !== null && short.waitMs <= bound && long.waitMs <= bound,
    },
    { scenario: `c ${label}`, metric: 'wait with the stream twice as long ÷ wait', value: f(ratio, 3), target: '≤ 1.10 (not proportional)', pass: ratio <= 1.1 },
    { scenario: `c ${label}`, metric: 'small requests started while it waited (stream / twice the stream)', value: `${short.smallsWhileWaiting} / ${long.smallsWhileWaiting}`, target: 'info', pass: null },
  ];
}

// ---- (d) budget under concurrency ---------------------------------------------------------

export interface BudgetParams {
  /** Concurrent requests of the client with the $1 budget. */
  readonly requests: number;
  readonly budgetUsd: number;
  /** Worst-case cost of one request (max_tokens × price). */
  readonly worstCaseUsd: number;
  /** Other clients submitting at the same time, each with `otherBudgetUsd` and `otherRequests` requests. */
  readonly others: number;
  readonly otherBudgetUsd: number;
  readonly otherRequests: number;
  /** Share of max_tokens the worker uses. @default 1 (the worst case) */
  readonly use?: number;
}

export interface BudgetResult {
  readonly admitted: number;
  readonly rejected: Readonly<Record<string, number>>;
  readonly spentUsd: number;
  readonly heldUsdAtEnd: number;
  readonly completed: number;
  /** Every client: budget, spent, admitted. */
  readonly clients: readonly { name: string; budgetUsd: number; spentUsd: number; admitted: number; maxAdmissible: number }[];
  readonly failures: readonly string[];
}

export async function budget(p: BudgetParams): Promise<BudgetResult> {
  const maxTokens = 1_000;
  const sim = await Sim.start({
    resources: pool(10_000_000, 1_000_000, p.worstCaseUsd / maxTokens),
    templates: { job: { model: MODEL, max_tokens: maxTokens, use: p.use ?? 1 } },
  });
  try {
    const main = await sim.client('budget-1usd', 'standard', { monthly_budget_usd: p.budgetUsd });
    const others: Client[] = [];
    for (let i = 0; i < p.others; i++) others.push(await sim.client(`budget-other-${i}`, 'basic', { monthly_budget_usd: p.otherBudgetUsd }));
    const arrivals: Arrival[] = [];
    for (let i = 0; i < p.requests; i++) arrivals.push({ client: main, template: 'job' });
    for (const c of others) for (let i = 0; i < p.otherRequests; i++) arrivals.push({ client: c, template: 'job' });
    const results = await sim.submitAll(arrivals);
    // Let everything admitted run (the bucket is large: one or two steps).
    for (let i = 0; i < 20 && [...sim.records.values()].some((r) => r.state === 'PENDING' || r.state === 'RUNNING'); i++) await sim.advance(100);
    await sim.settle();
    const rejected: Record<string, number> = {};
    results.slice(0, p.requests).forEach((r) => {
      if (!r.ok) rejected[r.code] = (rejected[r.code] ?? 0) + 1;
    });
    const period = sim.allot.deps.admission.currentPeriod();
    const row = async (c: { id: string }) => sim.allot.store.getBudget(c.id, period);
    const mainRow = await row(main);
    const clients = [];
    for (const [c, b] of [[main, p.budgetUsd] as const, ...others.map((o) => [o, p.otherBudgetUsd] as const)]) {
      const br = await row(c);
      clients.push({
        name: c.name, budgetUsd: b, spentUsd: br.spentNano / 1e9,
        admitted: [...sim.records.values()].filter((r) => r.clientId === c.id).length,
        maxAdmissible: Math.floor(Math.round((b / p.worstCaseUsd) * 1e6) / 1e6),
      });
    }
    return {
      admitted: results.slice(0, p.requests).filter((r) => r.ok).length,
      rejected,
      spentUsd: mainRow.spentNano / 1e9,
      heldUsdAtEnd: mainRow.heldNano / 1e9,
      completed: [...sim.records.values()].filter((r) => r.clientId === main.id && r.state === 'COMPLETED').length,
      clients,
      failures: sim.failures,
    };
  } finally {
    await sim.close();
  }
}

export function budgetRows(p: BudgetParams, r: BudgetResult): Row[] {
  const max = Math.floor(Math.round((p.budgetUsd / p.worstCaseUsd) * 1e6) / 1e6);
  const overspent = r.clients.filter((c) => c.spentUsd > c.budgetUsd + 1e-9);
  const rej = Object.entries(r.rejected).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  return [
    { scenario: 'd budget', metric: `${p.requests} concurrent requests, $${f(p.budgetUsd, 2)} budget, $${f(p.worstCaseUsd, 2)} worst case: spent`, value: `$${f(r.spentUsd, 4)}`, target: `≤ $${f(p.budgetUsd, 2)}`, pass: r.spentUsd <= p.budgetUsd + 1e-9 },
    { scenario: 'd budget', metric: `admitted (rejected: ${rej})`, value: String(r.admitted), target: `≤ ${max}`, pass: r.admitted <= max },
    { scenario: 'd budget', metric: 'admitted requests completed; budget still held at the end', value: `${r.completed}; $${f(r.heldUsdAtEnd, 4)}`, target: `= admitted; $0`, pass: r.completed === r.admitted && r.heldUsdAtEnd === 0 },
    {
      scenario: 'd budget', metric: `clients over budget (of ${r.clients.length}, ${p.others} others submitting ${p.otherRequests} each at the same time)`,
      value: overspent.length ? overspent.map((c) => `${c.name} $${f(c.spentUsd, 4)}`).join(', ') : '0', target: '0', pass: overspent.length === 0,
    },
  ];
}

// ---- (e) bucket accuracy under saturation ------------------------------------------------

export interface AccuracyParams {
  readonly capacity: number;
  readonly refillPerS: number;
  readonly clients: number;
  /** Offered load as a multiple of the refill rate, counted in tokens used (so that partial use still saturates). */
  readonly overload: number;
  /** Request sizes are drawn uniformly from [min, max] tokens (seeded). */
  readonly minSize: number;
  readonly maxSize: number;
  /** Share of max_tokens the worker uses (the rest goes back to the bucket). */
  readonly use: number;
  readonly durationMs: number;
  readonly stepMs: number;
  readonly scheduler?: Record<string, unknown>;
}

export interface AccuracyResult {
  /** Net tokens taken over the run ÷ (capacity + refill × duration). */
  readonly ratio: number;
  /** The longest stretch of virtual time in which requests were queued and none was admitted. */
  readonly longestIdleMs: number;
  /** The same over the worst interval between two admissions. */
  readonly worst: { ratio: number; fromMs: number; toMs: number };
  readonly admitted: number;
  readonly failures: readonly string[];
}

export async function accuracy(p: AccuracyParams): Promise<AccuracyResult> {
  const sim = await Sim.start({ scheduler: p.scheduler, resources: pool(p.capacity, p.refillPerS), templates: { job: { model: MODEL, max_tokens: p.maxSize, use: p.use } } });
  try {
    const clients: Client[] = [];
    for (let i = 0; i < p.clients; i++) clients.push(await sim.client(`acc-${i}`, 'standard'));
    const mean = (p.minSize + p.maxSize) / 2;
    const rate = (p.overload * p.refillPerS) / (mean * p.use) / p.clients;
    const arrivals = new FluidArrivals(
      clients.map((client) => ({ rate, make: (): Arrival => ({ client, template: 'job', maxTokens: Math.round(p.minSize + sim.random() * (p.maxSize - p.minSize)) }) })),
    );
    await sim.run(p.durationMs, p.stepMs, (t) => arrivals.at(t));
    const recs = claimed(sim.records.values());
    // Net taken: what was reserved, minus what came back at settlement (= what was used). Zero service
    // time: both happen at the claim's virtual instant.
    const taken = recs.map((r) => ({ t: r.claimedAt as number, units: r.used ? (r.used[POOL] ?? 0) : poolUnits(r) }));
    const total = taken.reduce((a, x) => a + x.units, 0);
    return { ratio: total / (p.capacity + (p.refillPerS * sim.now()) / 1000), longestIdleMs: longestIdle([...sim.records.values()], sim.now()), worst: worstWindowRatio(taken, p.capacity, p.refillPerS), admitted: recs.length, failures: sim.failures };
  } finally {
    await sim.close();
  }
}

/** The refill time of the largest request plus one step: a saturated bucket should never sit idle longer. */
export const accuracyIdleBoundMs = (p: AccuracyParams): number => (p.maxSize * 1000) / p.refillPerS + p.stepMs;

export function accuracyRows(label: string, p: AccuracyParams, r: AccuracyResult): Row[] {
  const desc = `${f(p.overload, 1)}× refill, ${f(p.minSize)}-${f(p.maxSize)}-token requests, worker uses ${f(p.use * 100)}%, ${s(p.durationMs)}, ${holdText(p.scheduler)}`;
  const idleBound = accuracyIdleBoundMs(p);
  return [
    { scenario: `e ${label}`, metric: `${desc}: net taken ÷ (capacity + refill × time)`, value: f(r.ratio, 4), target: '≥ 0.99 and ≤ 1.000', pass: r.ratio >= 0.99 && r.ratio <= 1 + 1e-9 },
    { scenario: `e ${label}`, metric: 'worst interval between two admissions: taken ÷ (capacity + refill × interval)', value: `${f(r.worst.ratio, 4)} (${s(r.worst.fromMs)} to ${s(r.worst.toMs)})`, target: '≤ 1.000', pass: r.worst.ratio <= 1 + 1e-9 },
    { scenario: `e ${label}`, metric: 'longest time with requests queued and none admitted', value: s(r.longestIdleMs), target: `≤ ${s(idleBound)}`, pass: r.longestIdleMs <= idleBound },
  ];
}

// ---- (f) a reserved pool lent, then reclaimed ------------------------------------------------

export interface ReservedParams {
  readonly capacity: number;
  readonly refillPerS: number;
  readonly size: number;
  /** The owner's reserved pool: this share of capacity and refill, reserved for one client. */
  readonly share: number;
  readonly ownerTier: string;
  readonly borrowerTier: string;
  readonly borrowers: number;
  /** The borrowers' offered load, as a multiple of the whole refill rate (after a bucketful at t = 0). */
  readonly overload: number;
  /** The owner is idle until then, then submits `ownerLoad` × its pool's refill rate until the end. */
  readonly ownerReturnsAtMs: number;
  readonly ownerLoad: number;
  readonly durationMs: number;
  readonly stepMs: number;
  readonly scheduler?: Record<string, unknown>;
}

export interface ReservedResult {
  /** While the owner was idle: admitted ÷ (capacity + refill × time), so whether its pool was lent. */
  readonly lentUtilization: number;
  readonly ownerSubmitted: number;
  readonly ownerAdmitted: number;
  /** The owner's waits after it returned (one still queued at the end counts with its wait so far). */
  readonly firstWaitMs: number;
  readonly p99WaitMs: number;
  readonly maxWaitMs: number;
  readonly failures: readonly string[];
}

/** The refill time of one request from the owner's own pool, plus one step. */
export const reservedBoundMs = (p: ReservedParams): number => Math.ceil((p.size * 1000) / (p.refillPerS * p.share)) + p.stepMs;

/**
 * Borrowers flood a resource one client holds a reserved slice of; the
 * owner is idle at first (its slice is lent), then returns with work well
 * within its slice. Its pool is set through PUT /admin/resources/{name}/pools.
 */
export async function reserved(p: ReservedParams): Promise<ReservedResult> {
  const sim = await Sim.start({ scheduler: p.scheduler, resources: pool(p.capacity, p.refillPerS), templates: { job: { model: MODEL, max_tokens: p.size } } });
  try {
    const owner = await sim.client('owner', p.ownerTier);
    await sim.admin('PUT', `/admin/resources/${POOL}/pools`, { pools: [{ name: 'owner', kind: 'reserved', client: owner.id, share: p.share }] });
    const borrowers: Client[] = [];
    for (let i = 0; i < p.borrowers; i++) borrowers.push(await sim.client(`borrower-${i}`, p.borrowerTier));
    const rate = (p.overload * p.refillPerS) / p.size / p.borrowers;
    // A burst of one bucketful at t = 0, so that the borrowers saturate the resource from the start.
    const burst = Math.ceil(p.capacity / p.size / p.borrowers);
    const flood = new FluidArrivals(borrowers.map((client) => ({ rate, burst, make: (): Arrival => ({ client, template: 'job' }) })));
    const own = new FluidArrivals([{ rate: (p.ownerLoad * p.share * p.refillPerS) / p.size, make: (): Arrival => ({ client: owner, template: 'job' }) }], p.ownerReturnsAtMs);
    await sim.run(p.durationMs, p.stepMs, (t) => [...flood.at(t), ...(t >= p.ownerReturnsAtMs ? own.at(t) : [])]);
    const end = sim.now();
    const recs = [...sim.records.values()];
    const lent = claimed(recs).filter((r) => (r.claimedAt as number) < p.ownerReturnsAtMs).reduce((a, r) => a + poolUnits(r), 0);
    const mine = recs.filter((r) => r.clientId === owner.id).toSorted((a, b) => a.createdAt - b.createdAt);
    const waits = mine.map((r) => (r.claimedAt ?? end) - r.createdAt);
    const sorted = waits.toSorted((a, b) => a - b);
    return {
      lentUtilization: lent / (p.capacity + (p.refillPerS * (p.ownerReturnsAtMs - p.stepMs)) / 1000),
      ownerSubmitted: mine.length,
      ownerAdmitted: claimed(mine).length,
      firstWaitMs: waits[0] ?? NaN,
      p99WaitMs: percentile(sorted, 0.99),
      maxWaitMs: sorted.at(-1) ?? NaN,
      failures: sim.failures,
    };
  } finally {
    await sim.close();
  }
}

export function reservedRows(label: string, p: ReservedParams, r: ReservedResult): Row[] {
  const sc = `f ${label}`;
  const bound = reservedBoundMs(p);
  return [
    {
      scenario: sc,
      metric: `${f(p.share * 100)}% reserved for one ${p.ownerTier}-tier client; ${p.borrowers} ${p.borrowerTier} borrowers at ${f(p.overload, 1)}× refill, ${holdText(p.scheduler)}: utilization while the owner is idle (${s(p.ownerReturnsAtMs)})`,
      value: f(r.lentUtilization, 4), target: '≥ 0.99 (lent)', pass: r.lentUtilization >= 0.99,
    },
    {
      scenario: sc, metric: `owner returns at ${f(p.ownerLoad * 100)}% of its pool's refill: first / p99 / max wait (${r.ownerAdmitted} of ${r.ownerSubmitted} admitted)`,
      value: `${s(r.firstWaitMs)} / ${s(r.p99WaitMs)} / ${s(r.maxWaitMs)}`, target: `max ≤ ${s(bound)}`, pass: r.maxWaitMs <= bound,
    },
  ];
}

/** For a run where (f) cannot be built (the pools API is missing or refused the config). */
export const reservedNotRun = (why: string): Row[] => [
  { scenario: 'f reserved pool', metric: "owner's wait when it returns after lending its reserved pool", value: `not run: ${why}`, target: '-', pass: null },
];

// ---- the table -------------------------------------------------------------------------------

export function table(rows: readonly Row[]): string {
  const head = ['scenario', 'metric', 'value', 'target', 'result'];
  const cells = rows.map((r) => [r.scenario, r.metric, r.value, r.target, r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL']);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: readonly string[]): string => c.map((x, i) => x.padEnd(w[i] as number)).join(' | ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...cells.map(line)].join('\n');
}
