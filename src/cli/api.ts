/**
 * The operator commands' view of a running Allot: its URL and admin key
 * (from flags or the environment), and calls that turn Allot's error
 * envelope into a CliError naming the code.
 */

/** A failure the command reports in one line and exits with `exitCode` for. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly code: string | undefined;
  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

export interface ApiOptions {
  readonly url?: string | undefined;
  readonly key?: string | undefined;
}

export interface Api {
  readonly base: string;
  get<T = Record<string, unknown>>(path: string): Promise<T>;
  send<T = Record<string, unknown>>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

/** `--url`, else ALLOT_URL, else this machine's Allot on ALLOT_PORT (8787). */
export function baseUrl(o: ApiOptions, env: NodeJS.ProcessEnv = process.env): string {
  const raw = o.url ?? env.ALLOT_URL ?? `http://127.0.0.1:${env.ALLOT_PORT || 8787}`;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.toString().replace(/\/$/, '');
  } catch {
    throw new CliError(`--url: "${raw}" is not an http(s) URL`, 2);
  }
}

export function openApi(o: ApiOptions, env: NodeJS.ProcessEnv = process.env): Api {
  const base = baseUrl(o, env);
  const key = o.key ?? env.ALLOT_ADMIN_KEY;
  if (!key) throw new CliError('an admin key is needed: set ALLOT_ADMIN_KEY (or pass --key)', 2);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const why = (err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message;
      throw new CliError(`cannot reach Allot at ${base}: ${why}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new CliError(`${e?.code ?? `HTTP ${res.status}`}: ${e?.message ?? text.slice(0, 200)}`, 1, e?.code);
    }
    return parsed as T;
  };
  return {
    base,
    get: (path) => call('GET', path),
    send: (method, path, body) => call(method, path, body),
  };
}
