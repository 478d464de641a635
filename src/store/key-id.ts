/**
 * A key's id: what an operator names it by (to list or revoke it), made from
 * its hash so that it needs no column of its own to be derived again, and so
 * that keys issued before ids existed got the same id from the migration
 * (`'key_' || substr(hash, 1, 16)`). 64 bits of a SHA-256 of a 192-bit
 * random key tell nothing about the key.
 */
export function keyId(hash: string): string {
  return `key_${hash.slice(0, 16)}`;
}
