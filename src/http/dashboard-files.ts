/** The dashboard's files, read from src/http/dashboard/ once at start (Node). */
import { readFileSync } from 'node:fs';
import { DASHBOARD_FILES, type DashboardAssets } from './dashboard-assets.ts';

export function readDashboardAssets(): DashboardAssets {
  return new Map(Object.entries(DASHBOARD_FILES).map(([path, a]) => [path, { body: readFileSync(new URL(`./dashboard/${a.file}`, import.meta.url), 'utf8'), type: a.type }]));
}
