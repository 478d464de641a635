/** The `migration` config section: defaults, environment overrides, and errors that name the key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';

const withFile = (config: unknown, env: Record<string, string> = {}) => resolveConfig({ ALLOT_CONFIG: 'c.json', ...env }, () => JSON.stringify(config));

describe('migration config', () => {
  it('runs everything in Allot by default', () => {
    const c = resolveConfig({});
    assert.equal(c.migration.legacyUrl, undefined);
    assert.equal(c.migration.mode, 'allot');
    assert.equal(c.migration.shadow, false);
  });

  it('reads the section, with the legacy URL and token overridable from the environment', () => {
    const c = withFile({ migration: { legacy_url: 'http://v2.internal:8080/', mode: 'rollout', rollout_percent: 12.5, shadow: true, poll_interval_ms: 100 } }, { ALLOT_LEGACY_TOKEN: 'tok' });
    assert.equal(c.migration.legacyUrl, 'http://v2.internal:8080');
    assert.equal(c.migration.rolloutPercent, 12.5);
    assert.equal(c.migration.legacyToken, 'tok');
    assert.equal(withFile({ migration: { mode: 'v2' } }, { ALLOT_LEGACY_URL: 'http://other:1' }).migration.legacyUrl, 'http://other:1');
  });

  it('names the bad key', () => {
    const issues = (config: unknown): string => {
      try {
        withFile(config);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.join('\n');
      }
      return '';
    };
    assert.match(issues({ migration: { mode: 'v2' } }), /^migration\.mode: .*legacy_url/m);
    assert.match(issues({ migration: { shadow: true } }), /^migration\.shadow: /m);
    assert.match(issues({ migration: { legacy_url: 'http://x', rollout_percent: 120 } }), /^migration\.rollout_percent: /m);
    assert.match(issues({ migration: { legacy_url: 'http://x', mode: 'both' } }), /^migration\.mode: /m);
    assert.match(issues({ migration: { legacy_url: 'http://x', rollout: 5 } }), /^migration\.rollout: unknown key/m);
  });
});
