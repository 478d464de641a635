/** The v2 import on Node: the source read with node:sqlite, then imported into this Allot's store (or a copy, dry run). */
import { AllotError } from '../core/errors.ts';
import type { AppDeps } from '../http/deps.ts';
import { importV2 } from './import.ts';
import type { V2Importer } from './importer.ts';
import { importIntoDatabase } from './run.ts';
import { readV2Bytes, readV2File, V2SourceError, type V2Source } from './v2-source.ts';
import { countTokens } from '../service/tokenizer.ts';

type Deps = Pick<AppDeps, 'store' | 'registry' | 'config' | 'clock' | 'events' | 'scheduler' | 'migration'>;

export function nodeV2Importer(d: Deps): V2Importer {
  return async (b) => {
    let source: V2Source;
    try {
      source = b.path !== undefined ? readV2File(b.path) : readV2Bytes(Buffer.from(b.base64 ?? '', 'base64'), b.name ?? 'the upload');
    } catch (err) {
      if (err instanceof V2SourceError) throw new AllotError('VALIDATION_ERROR', err.message, { details: { field: b.path !== undefined ? 'path' : 'data_base64' } });
      throw err;
    }
    if (b.dryRun) {
      await d.store.durable(); // the snapshot is taken from what is committed
      return importIntoDatabase(source, { ...d.config, tiers: d.registry.tiers, resources: d.registry.resources }, { dryRun: true, actor: 'admin' });
    }
    return importV2(
      source,
      { store: d.store, registry: d.registry, countTokens, budgetTimeZone: d.config.budgetTimeZone, starvationMs: d.config.starvationMs, now: () => d.clock.now() },
      {
        dryRun: false, actor: 'admin',
        onTakenOver: (r) => {
          d.events.emit('request:accepted', r);
          d.scheduler.enqueued(r);
        },
        // With the legacy orchestrator configured, its work is followed there at once (else by re-importing).
        onLeftToV2: (r) => d.migration.forwarder?.take(r, { imported: true }),
      },
    );
  };
}
