/**
 * The dashboard's static files: what the routes serve, without reading them.
 * The runtime reads them (src/http/dashboard-files.ts on Node), so that the
 * HTTP app itself imports nothing that only Node has.
 */

/** Each URL path's file under src/http/dashboard/ and its content type. */
export const DASHBOARD_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** URL path → the file's text and content type. */
export type DashboardAssets = ReadonlyMap<string, { readonly body: string; readonly type: string }>;
