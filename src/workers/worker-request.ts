/**
 * What fetch is given to call a worker (health probes, transport detection,
 * the v2 transport). fetch refuses a URL that carries a user and password,
 * and its error message quotes that URL, password and all; so they are taken
 * out of the URL and sent as HTTP Basic auth, which is what node:http does
 * with them for the direct transport. A worker's token, when it has one, is
 * sent as Bearer instead (a request has one Authorization), again as the
 * direct transport does.
 */

/** `path` on the worker at `base`, without credentials in the URL, and the headers that authenticate the call. */
export function workerRequest(base: string, path: string, token: string | undefined): { url: URL; headers: Record<string, string> } {
  const url = new URL(path, base);
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  else if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  url.username = '';
  url.password = '';
  return { url, headers };
}
