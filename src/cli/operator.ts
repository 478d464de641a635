/**
 * Operator commands against a running Allot (ALLOT_URL or --url, and the
 * admin key in ALLOT_ADMIN_KEY or --key): clients, their keys, admin keys,
 * templates, workers, requests. Each prints a table, or with --json what
 * the API answered.
 */
import { Command, Option } from 'commander';
import { CliError, openApi, type Api } from './api.ts';
import { ago, json, parseDuration, table, usd } from './format.ts';

type Row = Record<string, unknown>;
interface Common {
  readonly url?: string;
  readonly key?: string;
  readonly json?: boolean;
}

const out = (s: string): void => {
  process.stdout.write(s);
};

/** A command that talks to Allot: --url, --key and --json, and its action given the API and its options. */
function apiCommand<O extends Common>(parent: Command, spec: string, description: string, action: (api: Api, args: string[], o: O) => Promise<void>): Command {
  return parent
    .command(spec)
    .description(description)
    .option('--url <url>', 'Allot to talk to (default: ALLOT_URL, else http://127.0.0.1:ALLOT_PORT or 8787)')
    .option('--key <key>', 'admin key (default: ALLOT_ADMIN_KEY)')
    .option('--json', 'print what the API answered, as JSON')
    .action(async (...params: unknown[]) => {
      const cmd = params.at(-1) as Command;
      await action(openApi(cmd.opts<O>()), cmd.args, cmd.opts<O>());
    });
}

const enc = encodeURIComponent;
const seconds = (flag: string, v: string): number => {
  const s = parseDuration(v);
  if (s === null) throw new CliError(`${flag}: "${v}" is not a duration (90, 90s, 15m, 12h or 30d)`, 2);
  return s;
};
const positiveInt = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag}: "${v}" is not a positive integer`, 2);
  return n;
};
const money = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`${flag}: "${v}" is not an amount of dollars`, 2);
  return n;
};

export function operatorCommands(program: Command): void {
  const now = () => Date.now();

  // ---- clients ------------------------------------------------------------------
  const clients = program.command('clients').description('List, show, create, update and delete clients');
  apiCommand(clients, 'list', 'List clients with tier, budget and concurrency', async (api, _a, o) => {
    const r = await api.get<{ clients: Row[] }>('/admin/clients');
    out(o.json ? json(r) : table(['ID', 'NAME', 'TIER', 'BUDGET/MONTH', 'MAX CONCURRENT', 'CREATED'], r.clients.map((c) => [c.id, c.name, c.tier, usd(c.monthly_budget_usd), c.max_concurrent, ago(c.created_at, now())])));
  });
  apiCommand(clients, 'show <id>', "A client, this month's spend and its keys", async (api, [id], o) => {
    const c = await api.get<{ client: Row }>(`/admin/clients/${enc(id as string)}`);
    const usage = await api.get<Row>(`/api/usage/${enc(id as string)}/current`);
    const keys = await api.get<{ keys: Row[] }>(`/admin/clients/${enc(id as string)}/keys`);
    if (o.json) return out(json({ ...c, usage, keys: keys.keys }));
    out(`${c.client.name} (${c.client.id})\n  tier ${c.client.tier}, max ${c.client.max_concurrent} at once, budget ${usd(c.client.monthly_budget_usd)} a month\n  this period: spent ${usd(usage.spent_usd)}, held ${usd(usage.held_usd)}, remaining ${usd(usage.remaining_usd)}\n\n`);
    out(keyTable(keys.keys, now()));
  });
  apiCommand<Common & { name: string; tier: string; budget?: number; maxConcurrent?: number }>(clients, 'create', 'Create a client; prints its API key once', async (api, _a, o) => {
    const r = await api.send<{ client: Row; api_key: string }>('POST', '/admin/clients', {
      name: o.name, tier: o.tier, ...(o.budget === undefined ? {} : { monthly_budget_usd: o.budget }), ...(o.maxConcurrent === undefined ? {} : { max_concurrent: o.maxConcurrent }),
    });
    out(o.json ? json(r) : `created ${r.client.id} (${r.client.name}, ${r.client.tier})\napi key (shown once): ${r.api_key}\n`);
  })
    .requiredOption('--name <name>', 'client name')
    .requiredOption('--tier <tier>', 'tier (see GET /admin/tiers)')
    .option('--budget <usd>', 'monthly budget in dollars (default: the tier\'s)', money('--budget'))
    .option('--max-concurrent <n>', 'requests running at once (default: the tier\'s)', positiveInt('--max-concurrent'));
  apiCommand<Common & { name?: string; tier?: string; budget?: number; maxConcurrent?: number }>(clients, 'update <id>', "Change a client's name, tier, budget or concurrency", async (api, [id], o) => {
    const patch = { ...(o.name === undefined ? {} : { name: o.name }), ...(o.tier === undefined ? {} : { tier: o.tier }), ...(o.budget === undefined ? {} : { monthly_budget_usd: o.budget }), ...(o.maxConcurrent === undefined ? {} : { max_concurrent: o.maxConcurrent }) };
    if (!Object.keys(patch).length) throw new CliError('nothing to change: give --name, --tier, --budget or --max-concurrent', 2);
    const r = await api.send<{ client: Row }>('PATCH', `/admin/clients/${enc(id as string)}`, patch);
    out(o.json ? json(r) : `updated ${id}\n`);
  })
    .option('--name <name>', 'new name')
    .option('--tier <tier>', 'new tier')
    .option('--budget <usd>', 'monthly budget in dollars', money('--budget'))
    .option('--max-concurrent <n>', 'requests running at once', positiveInt('--max-concurrent'));
  apiCommand(clients, 'delete <id>', 'Delete a client with no work in flight', async (api, [id], o) => {
    const r = await api.send('DELETE', `/admin/clients/${enc(id as string)}`);
    out(o.json ? json(r) : `deleted ${id}\n`);
  });

  // ---- a client's keys ----------------------------------------------------------------
  const keys = program.command('keys').description("List, issue and revoke a client's API keys");
  apiCommand(keys, 'list <client>', "A client's keys: id, prefix, created, expiry, last use", async (api, [client], o) => {
    const r = await api.get<{ keys: Row[] }>(`/admin/clients/${enc(client as string)}/keys`);
    out(o.json ? json(r) : keyTable(r.keys, now()));
  });
  apiCommand<Common & { expiresIn?: string }>(keys, 'create <client>', 'Issue another key (printed once)', async (api, [client], o) => {
    const body = o.expiresIn === undefined ? undefined : { expires_in_s: seconds('--expires-in', o.expiresIn) };
    const r = await api.send<{ key_id: string; api_key: string; expires_at: string | null }>('POST', `/admin/clients/${enc(client as string)}/keys`, body);
    out(o.json ? json(r) : `issued ${r.key_id}${r.expires_at ? `, expires ${r.expires_at}` : ''}\napi key (shown once): ${r.api_key}\n`);
  }).option('--expires-in <duration>', 'the key stops working after this long: 90s, 15m, 12h, 30d');
  apiCommand(keys, 'revoke <client> <key_id>', 'Revoke a key: refused on every instance within a second', async (api, [client, keyId], o) => {
    const r = await api.send('DELETE', `/admin/clients/${enc(client as string)}/keys/${enc(keyId as string)}`);
    out(o.json ? json(r) : `revoked ${keyId}\n`);
  });

  // ---- admin keys -----------------------------------------------------------------------
  const admins = program.command('admin-keys').description('List, issue and revoke admin keys (role admin or read-only)');
  apiCommand(admins, 'list', 'Admin keys issued through the API', async (api, _a, o) => {
    const r = await api.get<{ keys: Row[] }>('/admin/keys');
    out(o.json ? json(r) : table(['ID', 'ROLE', 'NAME', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED'], r.keys.map((k) => [k.id, k.role, k.name, k.prefix, ago(k.created_at, now()), k.expires_at, ago(k.last_used_at, now())])));
  });
  apiCommand<Common & { role: string; name?: string; expiresIn?: string }>(admins, 'create', 'Issue an admin key (printed once)', async (api, _a, o) => {
    const r = await api.send<{ admin_key: string; key: Row }>('POST', '/admin/keys', {
      role: o.role, ...(o.name === undefined ? {} : { name: o.name }), ...(o.expiresIn === undefined ? {} : { expires_in_s: seconds('--expires-in', o.expiresIn) }),
    });
    out(o.json ? json(r) : `issued ${r.key.id} (${r.key.role})\nadmin key (shown once): ${r.admin_key}\n`);
  })
    .addOption(new Option('--role <role>', 'what the key may do').choices(['admin', 'read-only']).makeOptionMandatory())
    .option('--name <name>', 'who or what it is for')
    .option('--expires-in <duration>', 'stops working after this long: 90s, 15m, 12h, 30d');
  apiCommand(admins, 'revoke <key_id>', 'Revoke an admin key', async (api, [keyId], o) => {
    const r = await api.send('DELETE', `/admin/keys/${enc(keyId as string)}`);
    out(o.json ? json(r) : `revoked ${keyId}\n`);
  });

  // ---- templates and workers ----------------------------------------------------------
  const templates = program.command('templates').description('List and show templates');
  apiCommand(templates, 'list', 'Templates with their worker, model and limits', async (api, _a, o) => {
    const r = await api.get<{ templates: Row[] }>('/admin/templates');
    out(o.json ? json(r) : table(['NAME', 'WORKER', 'RESOURCES', 'MAX ATTEMPTS', 'TIMEOUT MS'], r.templates.map((t) => [t.name, t.worker ?? (t.stages as Row[] | undefined)?.map((s) => s.worker).join(' > '), resourcesOf(t), t.max_attempts, t.timeout_ms])));
  });
  apiCommand(templates, 'show <name>', 'A template in full (JSON)', async (api, [name]) => {
    out(json(await api.get(`/admin/templates/${enc(name as string)}`)));
  });
  const workers = program.command('workers').description('List, show and probe workers');
  apiCommand(workers, 'list', 'Workers with transport, health and breaker', async (api, _a, o) => {
    const r = await api.get<{ workers: Row[] }>('/admin/workers');
    out(o.json ? json(r) : table(['NAME', 'TRANSPORT', 'TARGET', 'HEALTH', 'BREAKER', 'RUNNING', 'MAX'], r.workers.map((w) => {
      const h = (w.health ?? {}) as Row;
      return [w.name, w.transport, w.url ?? w.command ?? '-', h.status, h.breaker, w.running, w.max_concurrency];
    })));
  });
  apiCommand(workers, 'show <name>', 'A worker in full (JSON)', async (api, [name]) => {
    out(json(await api.get(`/admin/workers/${enc(name as string)}`)));
  });
  apiCommand(workers, 'probe <name>', "Probe a worker's GET /health now (a success closes its breaker)", async (api, [name], o) => {
    const r = await api.send<{ health: Row }>('POST', `/admin/workers/${enc(name as string)}/probe`);
    out(o.json ? json(r) : `${name}: ${r.health.status}, breaker ${r.health.breaker}${r.health.last_error ? ` (${r.health.last_error})` : ''}\n`);
  });

  // ---- requests -----------------------------------------------------------------------
  const requests = program.command('requests').description('List, show, cancel and resubmit requests');
  apiCommand<Common & { status?: string; client?: string; template?: string; limit: number }>(requests, 'list', 'Requests of every client, newest first', async (api, _a, o) => {
    const q = new URLSearchParams({ limit: String(o.limit) });
    if (o.status) q.set('status', o.status.toUpperCase());
    if (o.client) q.set('client_id', o.client);
    if (o.template) q.set('template', o.template);
    const r = await api.get<{ requests: Row[] }>(`/admin/requests?${q}`);
    out(o.json ? json(r) : table(['ID', 'CLIENT', 'TEMPLATE', 'STATUS', 'ATTEMPTS', 'COST', 'ERROR'], r.requests.map((x) => [x.request_id, x.client_id, x.template, x.status, `${String(x.attempts)}/${String(x.max_attempts)}`, usd(x.cost_usd), (x.error as Row | null)?.code])));
  })
    .option('--status <states>', 'PENDING, RUNNING, FAILED, … (comma-separated); FAILED is the dead-letter view')
    .option('--client <id>', "only this client's")
    .option('--template <name>', "only this template's")
    .option('--limit <n>', 'at most this many', positiveInt('--limit'), 50);
  apiCommand(requests, 'show <id>', 'A request: status, attempts, progress, usage, cost, error, and its audit timeline', async (api, [id], o) => {
    const r = await api.get<Row>(`/api/execution/${enc(id as string)}`);
    const audit = await api.get<{ entries: Row[] }>(`/admin/audit?request_id=${enc(id as string)}&limit=200`);
    if (o.json) return out(json({ ...r, timeline: audit.entries }));
    const progress = r.progress as Row | null;
    out(`${r.request_id}  ${r.status}  template ${r.template}  client ${r.client_id}\n`);
    out(`  attempts ${r.attempts}/${r.max_attempts}, model ${r.model ?? '-'}, cost ${usd(r.cost_usd)}${progress ? `, progress ${progress.percent}%${progress.message ? ` (${progress.message})` : ''}` : ''}\n`);
    if (r.usage) out(`  usage ${JSON.stringify(r.usage)}\n`);
    if (r.error) out(`  error ${JSON.stringify(r.error)}\n`);
    out('\n');
    out(table(['AT', 'WHAT', 'BY', 'DETAIL'], audit.entries.map((e) => [e.at, e.from || e.to ? `${String(e.from ?? '·')} → ${String(e.to ?? '·')}` : ((e.data as Row | null)?.action ?? e.kind), e.actor, e.data ? JSON.stringify(e.data).slice(0, 80) : null])));
  });
  apiCommand(requests, 'cancel <id>', 'Cancel from any unfinished state (holds and reservations released at once)', async (api, [id], o) => {
    const r = await api.send<Row>('POST', `/api/execution/${enc(id as string)}/cancel`);
    out(o.json ? json(r) : `${id}: ${String(r.status ?? 'CANCELLED')}\n`);
  });
  apiCommand<Common & { since?: string; until?: string; dryRun?: boolean }>(requests, 'resubmit [ids...]', 'Submit failed (or cancelled) requests again as new ones: given ids, or those that ended in --since/--until', async (api, ids, o) => {
    if (!ids.length && !o.since) throw new CliError('give request ids, or --since (and --until) for a window', 2);
    const body = { ...(ids.length ? { request_ids: ids } : {}), ...(o.since ? { since: o.since } : {}), ...(o.until ? { until: o.until } : {}), ...(o.dryRun ? { dry_run: true } : {}) };
    const r = await api.send<{ results?: Row[] }>('POST', '/admin/requests/resubmit', body);
    if (o.json) return out(json(r));
    const rows = (r.results ?? []) as Row[];
    out(table(['ORIGINAL', 'NEW REQUEST', 'OUTCOME', 'ERROR'], rows.map((x) => [x.original, x.request_id, x.outcome, (x.error as Row | null)?.message])));
  })
    .option('--since <iso>', 'requests that ended from this time')
    .option('--until <iso>', 'up to this time')
    .option('--dry-run', 'say what would be submitted, submit nothing');
}

function keyTable(keys: readonly Row[], now: number): string {
  return table(['KEY ID', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED'], keys.map((k) => [k.id, k.prefix, ago(k.created_at, now), k.expires_at === null ? 'never' : `${String(k.expires_at)}${k.expires_in_s === 0 ? ' (expired)' : ''}`, k.last_used_at === null ? 'never' : ago(k.last_used_at, now)]));
}

function resourcesOf(t: Row): string {
  const r = t.resources;
  if (Array.isArray(r)) return r.map((x) => (typeof x === 'string' ? x : String((x as Row).resource ?? (x as Row).name))).join(', ');
  if (r && typeof r === 'object') return Object.keys(r).join(', ');
  return '-';
}
