/**
 * Secrets out of what Allot shows: a URL's password (`http://user:pass@host/`)
 * becomes `***`. Used wherever a worker's URL is shown, audited, logged or
 * put in an error message a client can read; Allot itself keeps and uses the
 * real URL.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined || !url.includes('@')) return url;
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    // Not a URL we can parse: hide whatever sits before the last '@' of its authority.
    return url.replace(/\/\/[^/]*@/, '//***@');
  }
}
