/**
 * The migration switches: mode, rollout percentage, shadow mode and the
 * rollback switch. Held in memory so that routing a request costs no read,
 * written through to the store (setting `migration`, audited as an admin
 * action) so that they survive a restart: a rollback stays a rollback. The
 * config file's `migration` section is only the starting point, used while
 * nothing has been stored.
 */
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { ExecutingSystem } from '../model.ts';
import type { Store } from '../store/store.ts';
import { MODES, routeFor, shadowSampled, type Mode, type RoutingState } from './routing.ts';

export const SETTING_KEY = 'migration';

export interface MigrationState extends RoutingState {
  readonly shadow: boolean;
  /** Share of new requests shadow mode copies, 0-100. */
  readonly shadowPercent: number;
  /** When the rollback switch was last turned on (ms), or null. */
  readonly rolledBackAt: number | null;
  readonly updatedAt: number | null;
  /** 'config' until an operator changes something; then 'stored'. */
  readonly source: 'config' | 'stored';
}

export interface MigrationPatch {
  readonly mode?: Mode | undefined;
  readonly rolloutPercent?: number | undefined;
  readonly shadow?: boolean | undefined;
  readonly shadowPercent?: number | undefined;
  readonly rollback?: boolean | undefined;
}

interface Stored {
  mode: Mode;
  rollout_percent: number;
  shadow: boolean;
  shadow_percent: number;
  rollback: boolean;
  rolled_back_at: number | null;
  updated_at: number;
}

export class MigrationSettings {
  readonly #store: Store;
  readonly #clock: Clock;
  /** Whether a legacy orchestrator is configured at all; without one everything runs in Allot. */
  readonly legacyConfigured: boolean;
  #s: MigrationState;

  private constructor(store: Store, clock: Clock, legacyConfigured: boolean, s: MigrationState) {
    this.#store = store;
    this.#clock = clock;
    this.legacyConfigured = legacyConfigured;
    this.#s = s;
  }

  /** The stored switches, or the config's when none are stored. */
  static async load(
    store: Store, clock: Clock, defaults: { mode: Mode; rolloutPercent: number; shadow: boolean; shadowPercent?: number | undefined; legacyConfigured: boolean },
  ): Promise<MigrationSettings> {
    const base: MigrationState = {
      mode: defaults.mode, rolloutPercent: defaults.rolloutPercent, shadow: defaults.shadow, shadowPercent: defaults.shadowPercent ?? 100, rollback: false,
      rolledBackAt: null, updatedAt: null, source: 'config',
    };
    const m = new MigrationSettings(store, clock, defaults.legacyConfigured, base);
    m.#base = base;
    await m.reload();
    return m;
  }

  /** The config's switches, what the stored ones fall back to. */
  #base: MigrationState | undefined;

  /** Read the stored switches again: another instance sharing the database may have changed them. */
  async reload(): Promise<void> {
    const raw = await this.#store.getSetting(SETTING_KEY);
    const s = this.#base ?? this.#s;
    if (raw) {
      const v = JSON.parse(raw) as Partial<Stored>;
      this.#s = {
        mode: MODES.includes(v.mode as Mode) ? (v.mode as Mode) : s.mode,
        rolloutPercent: typeof v.rollout_percent === 'number' ? v.rollout_percent : s.rolloutPercent,
        shadow: typeof v.shadow === 'boolean' ? v.shadow : s.shadow,
        shadowPercent: typeof v.shadow_percent === 'number' ? v.shadow_percent : s.shadowPercent,
        rollback: v.rollback === true,
        rolledBackAt: v.rolled_back_at ?? null,
        updatedAt: v.updated_at ?? null,
        source: 'stored',
      };
    } else this.#s = s;
  }

  get current(): MigrationState {
    return this.#s;
  }

  /** Which system runs a new request with this id. */
  route(requestId: string): ExecutingSystem {
    return this.legacyConfigured ? routeFor(requestId, this.#s) : 'allot';
  }

  /** Whether shadow mode is on (never during a rollback). */
  get shadowing(): boolean {
    return this.legacyConfigured && this.#s.shadow && !this.#s.rollback;
  }

  /** Whether this new request also gets a shadow copy on the other system: shadowing, and in the sample. */
  shadows(requestId: string): boolean {
    return this.shadowing && shadowSampled(requestId, this.#s.shadowPercent);
  }

  /**
   * Change switches. Takes effect for the next request admitted, before it
   * is durable; the caller acknowledges only after `store.durable()`.
   * Throws VALIDATION_ERROR naming the field.
   */
  async update(p: MigrationPatch, actor: string): Promise<MigrationState> {
    const bad = (field: string, msg: string): never => {
      throw new AllotError('VALIDATION_ERROR', `${field}: ${msg}`, { details: { field } });
    };
    if (p.mode !== undefined && !MODES.includes(p.mode)) bad('mode', `must be one of ${MODES.join(', ')}`);
    if (p.rolloutPercent !== undefined && !(Number.isFinite(p.rolloutPercent) && p.rolloutPercent >= 0 && p.rolloutPercent <= 100)) bad('rollout_percent', 'must be a number from 0 to 100');
    if (p.shadowPercent !== undefined && !(Number.isFinite(p.shadowPercent) && p.shadowPercent >= 0 && p.shadowPercent <= 100)) bad('shadow_percent', 'must be a number from 0 to 100');
    const needsV2 = (p.mode !== undefined && p.mode !== 'allot') || p.shadow === true || p.rollback === true;
    if (needsV2 && !this.legacyConfigured) {
      const field = p.rollback ? 'rollback' : p.shadow ? 'shadow' : 'mode';
      bad(field, 'no legacy orchestrator is configured (migration.legacy_url or ALLOT_LEGACY_URL)');
    }
    const now = this.#clock.now();
    const cur = this.#s;
    const next: MigrationState = {
      mode: p.mode ?? cur.mode,
      rolloutPercent: p.rolloutPercent ?? cur.rolloutPercent,
      shadow: p.shadow ?? cur.shadow,
      shadowPercent: p.shadowPercent ?? cur.shadowPercent,
      rollback: p.rollback ?? cur.rollback,
      rolledBackAt: p.rollback === true && !cur.rollback ? now : cur.rolledBackAt,
      updatedAt: now,
      source: 'stored',
    };
    // In memory first: a rollback routes the very next request to v2.
    this.#s = next;
    const stored: Stored = {
      mode: next.mode, rollout_percent: next.rolloutPercent, shadow: next.shadow, shadow_percent: next.shadowPercent, rollback: next.rollback, rolled_back_at: next.rolledBackAt, updated_at: now,
    };
    await this.#store.putSetting(SETTING_KEY, JSON.stringify(stored), actor);
    return next;
  }
}
