/**
 * Secrets Allot must present, encrypted at rest. A worker's token is checked
 * when the worker calls Allot (against its SHA-256, kept in memory) and sent
 * when Allot calls the worker, so Allot must be able to read it back: it is
 * stored sealed with AES-256-GCM under a key that is not in the database.
 * Secrets Allot only checks (the admin key, client API keys) are stored as
 * SHA-256 hashes and never need this.
 *
 * The key: `ALLOT_SECRET_KEY` (any string of 16 or more characters; it is
 * stretched with scrypt), or else a random key Allot generates once into a
 * file beside the database (`secret.key`, mode 0600). The file protects
 * dumps and backups of the database that do not include it; an operator who
 * keeps the key elsewhere sets ALLOT_SECRET_KEY.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Store } from '../store/store.ts';

const PREFIX = 'enc:v1:';
const SALT = 'allot secret key v1';

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

export class Secrets {
  readonly #key: Buffer;
  /** The key file's key when ALLOT_SECRET_KEY is set too: tokens sealed before it was set can still be read (and are sealed again). */
  readonly #previous: Buffer | undefined;
  /** Where the key came from, for error messages. */
  readonly source: string;

  constructor(key: Buffer, source: string, previous?: Buffer) {
    if (key.length !== 32) throw new TypeError('Secrets: the key must be 32 bytes');
    this.#key = key;
    this.#previous = previous;
    this.source = source;
  }

  /**
   * The key from `secretKey` (ALLOT_SECRET_KEY), else from the key file beside
   * `dbPath`, created (random, mode 0600) when there is none. An in-memory
   * database without a key gets a random key for the process.
   */
  static load(o: { secretKey?: string | undefined; dbPath: string }): Secrets {
    const file = o.dbPath === ':memory:' ? null : join(dirname(o.dbPath), 'secret.key');
    return Secrets.#resolve(o.secretKey, file);
  }

  /**
   * The scale-out mode: instances share no folder, so without ALLOT_SECRET_KEY
   * the generated key is kept in the shared database (`storedKey`, base64),
   * in the key file's role. That keeps tokens readable by every instance but
   * puts the key in the database's dumps: boot warns and recommends the variable.
   */
  static fromStored(o: { secretKey?: string | undefined; storedKey: string }): Secrets {
    const stored = Buffer.from(o.storedKey, 'base64');
    if (stored.length !== 32) throw new SecretKeyError('the key stored in the database (setting secret_key) is not 32 bytes of base64; set ALLOT_SECRET_KEY');
    if (o.secretKey) return new Secrets(scryptSync(o.secretKey, SALT, 32), 'ALLOT_SECRET_KEY', stored);
    return new Secrets(stored, 'the key stored in the database (setting secret_key)');
  }

  static #resolve(secretKey: string | undefined, file: string | null): Secrets {
    const o = { secretKey };
    if (o.secretKey) {
      // Set after a start that generated the key file: what that key sealed is still readable, and moves to this key.
      const previous = file && existsSync(file) ? Buffer.from(readFileSync(file, 'utf8').trim(), 'base64') : undefined;
      return new Secrets(scryptSync(o.secretKey, SALT, 32), 'ALLOT_SECRET_KEY', previous?.length === 32 ? previous : undefined);
    }
    if (file === null) return new Secrets(randomBytes(32), 'a key for this process only (in-memory database)');
    if (!existsSync(file)) {
      try {
        writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    chmodSync(file, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new SecretKeyError(`${file}: not a key Allot wrote (32 bytes, base64); remove it only if no worker token was stored under it, or set ALLOT_SECRET_KEY`);
    return new Secrets(key, `the key file ${file}`);
  }

  static isSealed(v: string): boolean {
    return v.startsWith(PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv);
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
  }

  /** Throws SecretKeyError when `sealed` was not sealed with this key. */
  open(sealed: string): string {
    return this.openAny(sealed).plain;
  }

  /**
   * Like open; `stale` when it was sealed with the key file's key while
   * ALLOT_SECRET_KEY is set: the caller seals it again, under the new key.
   */
  openAny(sealed: string): { plain: string; stale: boolean } {
    if (!Secrets.isSealed(sealed)) throw new SecretKeyError('not a sealed secret');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    for (const [key, stale] of [[this.#key, false], [this.#previous, true]] as const) {
      if (!key) continue;
      try {
        const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(12, 28));
        return { plain: Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8'), stale };
      } catch {
        // Not this key.
      }
    }
    throw new SecretKeyError(`a stored worker token cannot be decrypted with ${this.source}: set ALLOT_SECRET_KEY to the key the tokens were stored with (or restore the key file)`);
  }
}

/**
 * The key shared by every instance on one database, which share no folder
 * (scale-out, Workers): ALLOT_SECRET_KEY, else a key generated once and kept
 * in the database (setting secret_key).
 */
export async function sharedSecrets(store: Pick<Store, 'getSetting' | 'setSettingIfAbsent'>, secretKey: string | undefined): Promise<Secrets> {
  const stored = secretKey ? await store.getSetting('secret_key') : await store.setSettingIfAbsent('secret_key', randomBytes(32).toString('base64'));
  return stored ? Secrets.fromStored({ secretKey, storedKey: stored }) : Secrets.load({ secretKey, dbPath: ':memory:' });
}
