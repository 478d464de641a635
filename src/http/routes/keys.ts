/**
 * Keys an operator manages: a client's API keys (issue, list, revoke, with
 * an optional expiry) and admin keys with a role (`admin` or `read-only`).
 * A key is shown once, when issued; listings show its id and prefix. Each
 * change is in the audit log, signed by the admin key that made it.
 * Revoking clears this instance's key cache at once; the others hear of it
 * from the cluster, and ask the store again within service/auth.ts's
 * RECHECK_MS whatever happens to that message.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import type { AdminKeyInfo, KeyInfo } from '../../model.ts';
import { actorOf } from '../../service/auth.ts';
import { newSecret } from '../../service/ids.ts';
import { keyId } from '../../store/key-id.ts';
import type { AppDeps, Env } from '../deps.ts';
import { errors, IdParam, json, Loose } from '../schemas.ts';
import { iso } from '../views.ts';

/** The longest expiry a key may be given: ten years. */
const MAX_EXPIRY_S = 10 * 365 * 86_400;

const Expiry = {
  expires_in_s: z.number().int().positive().max(MAX_EXPIRY_S).optional().openapi({ description: 'The key stops working this many seconds after it is issued (a duration, so clocks need not agree)' }),
  expires_at: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Or: the instant it stops working (ISO 8601); give one of the two at most' }),
};
const ClientKeyCreate = z.object(Expiry).strict().openapi('ClientKeyCreate');
const AdminKeyCreate = z
  .object({
    role: z.enum(['admin', 'read-only']).openapi({ description: 'admin: may change anything; read-only: GET and HEAD only' }),
    name: z.string().min(1).max(100).optional().openapi({ description: 'Who or what the key is for' }),
    ...Expiry,
  })
  .strict()
  .openapi('AdminKeyCreate');
const KeyIdParam = z.object({ key_id: z.string().min(1).max(100).openapi({ param: { name: 'key_id', in: 'path' } }) });
const KeyOut = z
  .object({
    id: z.string(),
    prefix: z.string().openapi({ description: "The key's first characters, to recognise it by" }),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    expires_in_s: z.number().nullable().openapi({ description: 'Seconds left until it expires, as of this answer (0: expired)' }),
    last_used_at: z.string().nullable().openapi({ description: 'Written at most once a minute per instance, so up to a minute behind' }),
  })
  .openapi('ApiKey');
const AdminKeyOut = KeyOut.extend({ role: z.enum(['admin', 'read-only']), name: z.string().nullable() }).openapi('AdminKey');

/** When a key asked for with `expires_in_s` or `expires_at` expires, or null; a time already past is refused. */
function expiryOf(b: { expires_in_s?: number | undefined; expires_at?: string | undefined }, now: number): number | null {
  if (b.expires_in_s !== undefined && b.expires_at !== undefined) throw new AllotError('VALIDATION_ERROR', 'Give expires_in_s or expires_at, not both');
  if (b.expires_in_s !== undefined) return now + b.expires_in_s * 1_000;
  if (b.expires_at === undefined) return null;
  const at = Date.parse(b.expires_at);
  if (at <= now) throw new AllotError('VALIDATION_ERROR', `expires_at: ${b.expires_at} is not in the future`);
  if (at - now > MAX_EXPIRY_S * 1_000) throw new AllotError('VALIDATION_ERROR', `expires_at: ${b.expires_at} is more than ten years away`);
  return at;
}

export function registerKeyRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const keyView = (k: KeyInfo) => {
    const now = d.clock.now();
    return {
      id: k.id, prefix: k.prefix, created_at: iso(k.createdAt) as string, expires_at: iso(k.expiresAt),
      expires_in_s: k.expiresAt === null ? null : Math.max(0, Math.round((k.expiresAt - now) / 1_000)), last_used_at: iso(k.lastUsedAt),
    };
  };
  const adminKeyView = (k: AdminKeyInfo) => ({ ...keyView(k), role: k.role, name: k.name });
  const clientOf = (id: string) => {
    const c = d.registry.client(id);
    if (!c) throw new AllotError('NOT_FOUND', `No client ${id}`);
    return c;
  };
  const optionalBody = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: false } });

  // ---- a client's keys -----------------------------------------------------------
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/clients/{id}/keys', operationId: 'createClientKey', tags: ['admin'],
      summary: 'Issue another API key for a client (shown once), optionally expiring',
      request: { params: IdParam, ...optionalBody(ClientKeyCreate) },
      responses: { 201: json(Loose, 'New key'), ...errors },
    }),
    async (c) => {
      const id = clientOf(c.req.valid('param').id).id;
      const b = (c.req.valid('json') as z.output<typeof ClientKeyCreate> | undefined) ?? {};
      const expiresAt = expiryOf(b, d.clock.now());
      const key = newSecret('ak');
      await d.store.addClientKey(id, key.hash, key.prefix, actorOf(c.get('principal')), expiresAt);
      const [made] = (await d.store.listClientKeys(id)).filter((k) => k.id === keyId(key.hash));
      return c.json({ client_id: id, key_id: keyId(key.hash), api_key: key.key, prefix: key.prefix, ...(made ? { key: keyView(made) } : {}), expires_at: iso(expiresAt) }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/clients/{id}/keys', operationId: 'listClientKeys', tags: ['admin'],
      summary: "A client's API keys: id, prefix, created, expiry and last use (never the key)",
      request: { params: IdParam }, responses: { 200: json(z.object({ client_id: z.string(), keys: z.array(KeyOut) }), 'Keys'), ...errors },
    }),
    async (c) => {
      const id = clientOf(c.req.valid('param').id).id;
      return c.json({ client_id: id, keys: (await d.store.listClientKeys(id)).map(keyView) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete', path: '/admin/clients/{id}/keys/{key_id}', operationId: 'revokeClientKey', tags: ['admin'],
      summary: 'Revoke one of a client\'s keys: refused on every instance within a second; the client and its work stay',
      request: { params: IdParam.extend(KeyIdParam.shape) }, responses: { 200: json(z.object({ client_id: z.string(), revoked: z.string() }), 'Revoked'), ...errors },
    }),
    async (c) => {
      const { id, key_id } = c.req.valid('param');
      const client = clientOf(id).id;
      if (!(await d.store.revokeClientKey(client, key_id, actorOf(c.get('principal'))))) throw new AllotError('NOT_FOUND', `Client ${client} has no key ${key_id}`);
      d.auth.forgetKeys();
      return c.json({ client_id: client, revoked: key_id }, 200);
    },
  );

  // ---- admin keys ------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/keys', operationId: 'createAdminKey', tags: ['admin'],
      summary: 'Issue an admin key with a role, admin or read-only (shown once), optionally expiring',
      request: { body: { content: { 'application/json': { schema: AdminKeyCreate } }, required: true } }, responses: { 201: json(Loose, 'New admin key'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const now = d.clock.now();
      const key = newSecret('adm');
      const info: AdminKeyInfo = { id: keyId(key.hash), prefix: key.prefix, createdAt: now, expiresAt: expiryOf(b, now), lastUsedAt: null, role: b.role, name: b.name ?? null };
      await d.store.createAdminKey({ ...info, hash: key.hash }, actorOf(c.get('principal')));
      return c.json({ admin_key: key.key, key: adminKeyView(info) }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/keys', operationId: 'listAdminKeys', tags: ['admin'],
      summary: 'Admin keys issued through the API, with role, expiry and last use (the admin key itself is not listed)',
      responses: { 200: json(z.object({ keys: z.array(AdminKeyOut) }), 'Admin keys'), ...errors },
    }),
    async (c) => c.json({ keys: (await d.store.listAdminKeys()).map(adminKeyView) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'delete', path: '/admin/keys/{key_id}', operationId: 'revokeAdminKey', tags: ['admin'],
      summary: 'Revoke an admin key: refused on every instance within a second',
      request: { params: KeyIdParam }, responses: { 200: json(z.object({ revoked: z.string() }), 'Revoked'), ...errors },
    }),
    async (c) => {
      const { key_id } = c.req.valid('param');
      if (!(await d.store.revokeAdminKey(key_id, actorOf(c.get('principal'))))) throw new AllotError('NOT_FOUND', `No admin key ${key_id}`);
      d.auth.forgetKeys();
      return c.json({ revoked: key_id }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/me', operationId: 'getAdminIdentity', tags: ['admin'], summary: 'Which admin key is calling, and its role',
      responses: { 200: json(z.object({ key_id: z.string().nullable(), role: z.enum(['admin', 'read-only']) }), 'Identity'), ...errors },
    }),
    (c) => {
      const p = c.get('principal');
      if (p.kind !== 'admin') throw new AllotError('FORBIDDEN', 'Admin endpoints need an admin key');
      return c.json({ key_id: p.keyId, role: p.role }, 200);
    },
  );
}
