/**
 * Bundles a module for Cloudflare Workers (workerd with `nodejs_compat`):
 * one ES module, `node:` built-ins left to the runtime. Used by the tests
 * that load Allot's code in a local workerd (miniflare), and by the Workers
 * entry's build. Node-side tooling: it is never part of a bundle itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { build, type Metafile, type Plugin } from 'esbuild';

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

const BUILTIN = new RegExp(`^(node:)?(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`);

/**
 * CommonJS packages (pino, prom-client) require() Node's built-ins, which an
 * ES module cannot do in workerd: each such require becomes a small module
 * that imports the built-in and exports it, so the import is static.
 */
const requireBuiltins: Plugin = {
  name: 'require-builtins',
  setup(b) {
    b.onResolve({ filter: BUILTIN }, (a) => (a.kind === 'require-call' ? { path: a.path.replace(/^node:/, ''), namespace: 'builtin-require' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (a) => ({
      contents: `import m from 'node:${a.path}'; module.exports = m;`,
      loader: 'js',
    }));
  },
};

/** `allot:dashboard`: the dashboard's files (src/http/dashboard/) as texts by file name, read when bundling. */
const dashboardFiles: Plugin = {
  name: 'allot-dashboard',
  setup(b) {
    b.onResolve({ filter: /^allot:dashboard$/ }, () => ({ path: 'dashboard', namespace: 'allot-virtual' }));
    b.onLoad({ filter: /.*/, namespace: 'allot-virtual' }, () => {
      const dir = new URL('../http/dashboard/', import.meta.url);
      const files = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(new URL(f, dir), 'utf8')]));
      return { contents: `export default ${JSON.stringify(files)};`, loader: 'js', watchFiles: Object.keys(files).map((f) => new URL(f, dir).pathname) };
    });
  },
};

export interface BundleOptions {
  /** Module specifiers replaced by paths (a test bundle's `node:test`). */
  readonly alias?: Readonly<Record<string, string>>;
}

/** Bundle `entry` (a path, or a module's source and the directory its imports resolve from) for workerd. */
export async function bundleForWorkers(entry: string | { readonly contents: string; readonly resolveDir: string }, o: BundleOptions = {}): Promise<Bundle> {
  const r = await build({
    ...(typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { contents: entry.contents, resolveDir: entry.resolveDir, sourcefile: 'entry.ts', loader: 'ts' as const } }),
    ...(o.alias ? { alias: { ...o.alias } } : {}),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2024',
    conditions: ['workerd', 'worker', 'import'],
    mainFields: ['module', 'main'],
    // Node's built-ins, with or without `node:` (packages require 'events'), are workerd's to provide (nodejs_compat).
    external: ['node:*', ...builtinModules],
    // The schema's migrations (src/store/d1/migrations.ts imports the SQLite store's .sql files).
    loader: { '.sql': 'text' },
    plugins: [requireBuiltins, dashboardFiles],
    metafile: true,
    logLevel: 'silent',
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${typeof entry === 'string' ? entry : 'the given source'}`);
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
