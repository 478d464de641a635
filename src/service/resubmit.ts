/**
 * Replaying the audit log (SPEC section 8, seed 003's data recovery): pick
 * requests by their audit trail (those that ended FAILED, or CANCELLED, in a
 * time window; or given ids) and submit each again as a new request of the
 * same client, template, input, parameters and urgency, through normal
 * admission (estimate, budget check, routing). Each re-submission carries the
 * Idempotency-Key `resubmit:<original id>`, so replaying the same window
 * twice submits nothing new the second time.
 */
import { AllotError } from '../core/errors.ts';
import { isTerminal } from '../core/states.ts';
import type { WorkRequest } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { Admission } from './admission.ts';
import type { Registry } from './registry.ts';

export interface ResubmitSelection {
  /** These requests; otherwise those whose audit trail shows them entering `state` in [since, until). */
  readonly requestIds?: readonly string[] | undefined;
  readonly state: 'FAILED' | 'CANCELLED';
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly template?: string | undefined;
  readonly clientId?: string | undefined;
  readonly limit: number;
}

export interface ResubmitResult {
  readonly original: string;
  readonly clientId: string | null;
  readonly template: string | null;
  /** submitted: a new request; existing: submitted by an earlier replay; would_submit: dry run; refused: see error. */
  readonly outcome: 'submitted' | 'existing' | 'would_submit' | 'refused';
  readonly requestId?: string | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

export const RESUBMIT_KEY_PREFIX = 'resubmit:';

async function select(store: Store, s: ResubmitSelection): Promise<string[]> {
  if (s.requestIds) return [...new Set(s.requestIds)].slice(0, s.limit);
  const ids: string[] = [];
  const seen = new Set<string>();
  for (let after = 0; ids.length < s.limit; ) {
    const page = await store.listAudit({ toState: s.state, since: s.since, until: s.until, afterSeq: after, limit: 1000 });
    for (const e of page) {
      if (e.requestId && !seen.has(e.requestId)) {
        seen.add(e.requestId);
        ids.push(e.requestId);
      }
    }
    if (page.length < 1000) break;
    after = page.at(-1)?.seq ?? after;
  }
  return ids;
}

export async function resubmit(
  d: { readonly store: Store; readonly registry: Registry; readonly admission: Admission },
  s: ResubmitSelection,
  o: { readonly dryRun: boolean },
): Promise<ResubmitResult[]> {
  const out: ResubmitResult[] = [];
  for (const id of await select(d.store, s)) {
    if (out.length >= s.limit) break;
    const r = await d.store.getRequest(id);
    const refused = (code: string, message: string, q: WorkRequest | null = r): ResubmitResult => ({
      original: id, clientId: q?.clientId ?? null, template: q?.template ?? null, outcome: 'refused', error: { code, message },
    });
    if (!r) {
      out.push(refused('NOT_FOUND', `No request ${id}`));
      continue;
    }
    if ((s.template && r.template !== s.template) || (s.clientId && r.clientId !== s.clientId) || r.shadowOf) continue;
    if (!isTerminal(r.state)) {
      out.push(refused('CONFLICT', `Request ${id} is ${r.state}, not finished: it is not submitted again`));
      continue;
    }
    const client = d.registry.client(r.clientId);
    if (!client) {
      out.push(refused('NOT_FOUND', `Client ${r.clientId} no longer exists`));
      continue;
    }
    const body = {
      template: r.template, input: r.input as Record<string, unknown>, urgency: r.urgency, parameters: { ...r.parameters },
      ...(r.klass === 1 ? { queue: 'batch' as const } : r.klass === 2 && !r.optimization?.offpeak ? { queue: 'deferred' as const } : {}),
    };
    const key = `${RESUBMIT_KEY_PREFIX}${r.id}`;
    if (o.dryRun) {
      const prior = await d.store.findByIdempotencyKey(r.clientId, key);
      out.push({ original: id, clientId: r.clientId, template: r.template, outcome: prior ? 'existing' : 'would_submit', requestId: prior?.id });
      continue;
    }
    try {
      const { request, created } = await d.admission.submit(client, body, key);
      out.push({ original: id, clientId: r.clientId, template: r.template, outcome: created ? 'submitted' : 'existing', requestId: request.id });
    } catch (err) {
      if (!(err instanceof AllotError)) throw err;
      out.push(refused(err.code, err.message));
    }
  }
  return out;
}
