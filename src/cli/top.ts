/**
 * `allot top`: a live view of a running Allot in the terminal: scheduler and
 * queue by level, requests by state, each resource's level, workers with
 * their health and breaker, what runs now, and alerts firing. It redraws
 * every --interval seconds until Ctrl-C; --once prints one frame (for
 * scripts and pipes).
 */
import type { Api } from './api.ts';
import { duration, table } from './format.ts';

type Row = Record<string, unknown>;

export interface TopOptions {
  readonly intervalMs: number;
  readonly once: boolean;
  readonly limit: number;
}

/** One frame, from what the API answers now. */
export async function frame(api: Api, limit: number, now = new Date()): Promise<string> {
  const [status, workers, running, alerts] = await Promise.all([
    api.get<Row>('/status'),
    api.get<{ workers: Row[] }>('/admin/workers'),
    api.get<{ requests: Row[] }>(`/admin/requests?status=RUNNING,PREPARING&limit=${limit}`),
    api.get<{ alerts: Row[] }>('/admin/alerts'),
  ]);
  const inst = (status.instance ?? {}) as Row;
  const queue = (status.queue ?? {}) as Row;
  const levels = (queue.levels ?? {}) as Record<string, { depth: number; oldestWaitMs: number }>;
  const oldest = Math.max(0, ...Object.values(levels).map((l) => l.oldestWaitMs));
  const states = (status.requests ?? {}) as Record<string, number>;
  const lines: string[] = [];
  lines.push(`Allot ${api.base}  ${String(inst.id ?? '')} (${inst.leader ? 'leader' : 'replica'}, ${String(inst.mode ?? '')})  scheduler ${String(status.scheduler)}  ${now.toISOString().slice(11, 19)} UTC`);
  lines.push(`queue   ${String(queue.depth)} pending (${Object.entries(levels).map(([k, l]) => `${k} ${l.depth}`).join(', ')}), oldest ${duration(oldest)}; ${String(queue.running)} running, ${String(queue.waiting_retry)} waiting to retry`);
  lines.push(`totals  ${Object.entries(states).map(([k, n]) => `${k.toLowerCase()} ${n}`).join(', ')}`);
  lines.push('');
  const resources = Object.entries((status.resources ?? {}) as Record<string, { available: number; capacity: number }>);
  lines.push(table(['RESOURCE', 'AVAILABLE', 'CAPACITY', 'IN USE'], resources.map(([name, r]) => [name, Math.floor(r.available), r.capacity, bar(1 - r.available / Math.max(1, r.capacity))])).trimEnd());
  lines.push('');
  lines.push(workers.workers.length
    ? table(['WORKER', 'TRANSPORT', 'HEALTH', 'BREAKER', 'RUNNING', 'MAX'], workers.workers.map((w) => {
      const h = (w.health ?? {}) as Row;
      return [w.name, w.transport, h.status, h.breaker, w.running, w.max_concurrency];
    })).trimEnd()
    : 'no workers');
  lines.push('');
  lines.push(running.requests.length
    ? table(['RUNNING', 'CLIENT', 'TEMPLATE', 'ATTEMPT', 'PROGRESS'], running.requests.map((r) => {
      const p = r.progress as Row | null;
      return [r.request_id, r.client_id, r.template, r.attempts, p ? `${String(p.percent)}%${p.message ? ` ${String(p.message)}` : ''}` : '-'];
    })).trimEnd()
    : 'nothing running');
  lines.push('');
  lines.push(alerts.alerts.length ? table(['ALERT', 'SEVERITY', 'SUBJECT', 'MESSAGE'], alerts.alerts.map((a) => [a.kind, a.severity, a.subject, a.message])).trimEnd() : 'no alerts firing');
  return `${lines.join('\n')}\n`;
}

function bar(used: number): string {
  const u = Math.min(1, Math.max(0, used));
  const n = Math.round(u * 10);
  return `${'#'.repeat(n)}${'.'.repeat(10 - n)} ${Math.round(u * 100)}%`;
}

export async function top(api: Api, o: TopOptions): Promise<void> {
  const tty = process.stdout.isTTY === true;
  if (o.once) {
    process.stdout.write(await frame(api, o.limit));
    return;
  }
  const state = { stop: false };
  const onSig = (): void => {
    state.stop = true;
  };
  process.once('SIGINT', onSig);
  try {
    while (!state.stop) {
      let text: string;
      try {
        text = await frame(api, o.limit);
      } catch (err) {
        text = `${(err as Error).message}\n(retrying every ${duration(o.intervalMs)})\n`;
      }
      // A terminal is redrawn in place; a pipe gets one frame after another.
      process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  } finally {
    process.off('SIGINT', onSig);
  }
}
