/**
 * Prometheus metrics (prom-client). Counters and histograms follow events;
 * gauges are read from the scheduler when scraped, so they are never stale.
 */
import client from 'prom-client';
import { nanoToUsd } from './core/money.ts';
import type { AlertRecord } from './core/alert-state.ts';
import type { Events } from './events.ts';
import type { Scheduler } from './scheduler/scheduler.ts';
import type { TokenCounter } from './service/token-counter.ts';

export class Metrics {
  readonly registry = new client.Registry();

  /**
   * @param openAlerts the alerts firing now (the store's), for the `allot_alerts_firing` gauge
   * @param tokenizer what the token counter has measured, on the event loop and on its threads
   * @param processMetrics the Node process's own (CPU, memory, event loop lag); a runtime without them (Workers) says false
   */
  constructor(events: Events, scheduler: Scheduler, openAlerts?: () => Promise<readonly AlertRecord[]>, tokenizer?: Pick<TokenCounter, 'measured'>, processMetrics = true) {
    const r = this.registry;
    if (processMetrics) client.collectDefaultMetrics({ register: r, prefix: 'allot_process_' });
    const requests = new client.Counter({ name: 'allot_requests_total', help: 'Requests by outcome', labelNames: ['outcome', 'template'], registers: [r] });
    const cost = new client.Counter({ name: 'allot_cost_usd_total', help: 'Cost charged, USD', labelNames: ['client', 'template'], registers: [r] });
    const tokens = new client.Counter({ name: 'allot_tokens_total', help: 'Tokens used', labelNames: ['direction', 'template'], registers: [r] });
    const dispatchDelay = new client.Histogram({
      name: 'allot_dispatch_delay_seconds', help: 'Time from runnable to dispatch', registers: [r],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    });
    const dispatchDelayQ = new client.Summary({
      name: 'allot_dispatch_delay_quantiles_seconds', help: 'Time from runnable to dispatch, quantiles over the last 10 minutes', registers: [r],
      percentiles: [0.5, 0.9, 0.99, 0.999], maxAgeSeconds: 600, ageBuckets: 2,
    });
    const duration = new client.Histogram({
      name: 'allot_request_run_seconds', help: 'Worker run time', labelNames: ['template'], registers: [r],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    });
    const pass = new client.Histogram({ name: 'allot_scheduler_pass_seconds', help: 'Scheduler pass duration', registers: [r], buckets: [0.0001, 0.001, 0.01, 0.1, 1] });
    const throttled = new client.Counter({ name: 'allot_bucket_throttled_total', help: 'Times a request waited for a bucket', labelNames: ['resource'], registers: [r] });
    const workerErrors = new client.Counter({ name: 'allot_worker_errors_total', help: 'Worker failures', labelNames: ['worker', 'code'], registers: [r] });
    const stale = new client.Counter({ name: 'allot_stale_results_total', help: 'Results refused under a stale lease', registers: [r] });
    const overuse = new client.Counter({ name: 'allot_worker_overuse_total', help: 'Answers reporting usage beyond what the job allowed (max_tokens, reserved units)', labelNames: ['worker'], registers: [r] });
    if (openAlerts) {
      new client.Gauge({
        name: 'allot_alerts_firing', help: 'Alerts firing now', labelNames: ['kind', 'severity'], registers: [r],
        async collect() {
          this.reset();
          for (const a of await openAlerts()) this.inc({ kind: a.kind, severity: a.severity });
        },
      });
    }

    if (tokenizer) {
      const m = tokenizer.measured;
      new client.Counter({
        name: 'allot_tokenizer_inputs_total', help: 'Inputs measured (tokens counted) on the event loop (small ones) or on a tokenizer thread', labelNames: ['where'], registers: [r],
        collect() {
          this.reset();
          for (const where of ['inline', 'thread'] as const) this.inc({ where }, m[where].inputs);
        },
      });
      new client.Counter({
        name: 'allot_tokenizer_chars_total', help: 'Characters of input measured, by where (as allot_tokenizer_inputs_total)', labelNames: ['where'], registers: [r],
        collect() {
          this.reset();
          for (const where of ['inline', 'thread'] as const) this.inc({ where }, m[where].chars);
        },
      });
    }

    new client.Gauge({
      name: 'allot_queue_depth', help: 'Queued requests per level', labelNames: ['level'], registers: [r],
      collect() {
        for (const [lv, s] of Object.entries(scheduler.queueStats())) this.set({ level: lv }, s.depth);
      },
    });
    new client.Gauge({
      name: 'allot_queue_oldest_wait_seconds', help: 'Longest current wait per level', labelNames: ['level'], registers: [r],
      collect() {
        for (const [lv, s] of Object.entries(scheduler.queueStats())) this.set({ level: lv }, s.oldestWaitMs / 1000);
      },
    });
    new client.Gauge({
      name: 'allot_running', help: 'Requests running now', registers: [r],
      collect() {
        this.set(scheduler.runningCount);
      },
    });
    new client.Gauge({
      name: 'allot_resource_available', help: 'Units available in each bucket', labelNames: ['resource'], registers: [r],
      collect() {
        for (const [name, b] of scheduler.bucketLevels()) this.set({ resource: name }, b.level);
      },
    });
    new client.Gauge({
      name: 'allot_resource_utilization_ratio', help: '1 - available/capacity', labelNames: ['resource'], registers: [r],
      collect() {
        for (const [name, b] of scheduler.bucketLevels()) this.set({ resource: name }, 1 - Math.max(0, b.level) / b.capacity);
      },
    });

    events.on('request:accepted', (q) => requests.inc({ outcome: 'accepted', template: q.template }));
    events.on('request:started', (_q, delayMs) => {
      dispatchDelay.observe(delayMs / 1000);
      dispatchDelayQ.observe(delayMs / 1000);
    });
    events.on('request:completed', (q, ms) => {
      requests.inc({ outcome: 'completed', template: q.template });
      duration.observe({ template: q.template }, ms / 1000);
      if (q.costNano) cost.inc({ client: q.clientId, template: q.template }, nanoToUsd(q.costNano));
      if (q.usage) {
        tokens.inc({ direction: 'input', template: q.template }, q.usage.tokens.input);
        tokens.inc({ direction: 'output', template: q.template }, q.usage.tokens.output);
      }
    });
    events.on('request:failed', (q) => {
      requests.inc({ outcome: 'failed', template: q.template });
      if (q.costNano) cost.inc({ client: q.clientId, template: q.template }, nanoToUsd(q.costNano));
    });
    events.on('request:retrying', (q) => requests.inc({ outcome: 'retrying', template: q.template }));
    events.on('request:cancelled', (q) => requests.inc({ outcome: 'cancelled', template: q.template }));
    events.on('request:stale-result', () => stale.inc());
    events.on('request:overuse', (_id, o) => {
      for (const w of o.workers) overuse.inc({ worker: w });
    });
    events.on('bucket:throttled', (res) => throttled.inc({ resource: res }));
    events.on('worker:error', (w, e) => workerErrors.inc({ worker: w, code: e.code }));
    events.on('scheduler:pass', (ms) => pass.observe(ms / 1000));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
