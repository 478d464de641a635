/**
 * Bundles a module for Cloudflare Workers (workerd with `nodejs_compat`):
 * one ES module, `node:` built-ins left to the runtime. Used by the tests
 * that load Allot's code in a local workerd (miniflare), and by the Workers
 * entry's build. Node-side tooling: it is never part of a bundle itself.
 */
import { build, type Metafile } from 'esbuild';

/** The compatibility settings every bundle is loaded with (wrangler.toml says the same). */
export const COMPATIBILITY_DATE = '2026-07-01';
export const COMPATIBILITY_FLAGS: readonly string[] = ['nodejs_compat'];

export interface Bundle {
  /** The bundled module's source. */
  readonly code: string;
  /** The `node:` modules it imports (left to workerd's nodejs_compat). */
  readonly nodeImports: readonly string[];
  /** For each `node:` module, the source files that import it. */
  readonly importers: ReadonlyMap<string, readonly string[]>;
}

/** Bundle `entry` (a path) for workerd. */
export async function bundleForWorkers(entry: string): Promise<Bundle> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2024',
    conditions: ['workerd', 'worker', 'import'],
    mainFields: ['module', 'main'],
    external: ['node:*'],
    metafile: true,
    logLevel: 'silent',
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${entry}`);
  return { code: out.text, ...nodeImportsOf(r.metafile) };
}

function nodeImportsOf(meta: Metafile): { nodeImports: string[]; importers: Map<string, string[]> } {
  const importers = new Map<string, string[]>();
  for (const [file, input] of Object.entries(meta.inputs)) {
    for (const i of input.imports) {
      if (!i.external || !i.path.startsWith('node:')) continue;
      const list = importers.get(i.path) ?? [];
      list.push(file);
      importers.set(i.path, list);
    }
  }
  return { nodeImports: [...importers.keys()].toSorted(), importers };
}
