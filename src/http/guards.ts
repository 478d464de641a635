/** Authorization checks shared by routes. */
import type { Context } from 'hono';
import { AllotError } from '../core/errors.ts';
import type { Client, WorkRequest } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { Env } from './deps.ts';

/** The calling client; admin keys cannot submit work (there is no client to charge). */
export function callerClient(c: Context<Env>): Client {
  const p = c.get('principal');
  if (p.kind !== 'client') throw new AllotError('FORBIDDEN', 'This endpoint needs a client API key');
  return p.client;
}

/** A client may read only its own data; the admin may read anyone's. */
export function assertOwnClient(c: Context<Env>, clientId: string): void {
  const p = c.get('principal');
  if (p.kind === 'client' && p.client.id !== clientId) throw new AllotError('FORBIDDEN', `Client ${p.client.id} cannot read client ${clientId}`);
}

/** The request, if the caller may see it. Another client's request is reported as not found, not forbidden. */
export async function visibleRequest(c: Context<Env>, store: Store, id: string): Promise<WorkRequest> {
  const r = await store.getRequest(id);
  const p = c.get('principal');
  if (!r || (p.kind === 'client' && r.clientId !== p.client.id)) throw new AllotError('NOT_FOUND', `No request ${id}`);
  return r;
}
