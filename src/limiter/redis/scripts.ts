/**
 * The limiter's Lua scripts, one file per operation beside this one, each
 * documenting its KEYS and ARGV in its header. `--- @include "includes/x"`
 * lines are replaced by includes/x.lua (BullMQ's convention), so the bucket
 * arithmetic is written once. Scripts are registered with ioredis's
 * `defineCommand`, which sends EVALSHA and falls back to EVAL when the
 * server does not have the script (after a restart or SCRIPT FLUSH).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Each script and how many of its arguments are KEYS. */
export const SCRIPTS = Object.freeze({ take: 4, settle: 4, release: 4, expire: 3, reset: 2, configure: 2, levels: 2 });

export type ScriptName = keyof typeof SCRIPTS;

const INCLUDE = /^--- @include "([\w/-]+)"$/gm;

/** A script's text with its includes expanded (each included once). */
export function scriptSource(name: string, seen = new Set<string>()): string {
  const text = readFileSync(new URL(`./${name}.lua`, import.meta.url), 'utf8');
  return text.replace(INCLUDE, (_, inc: string) => {
    if (seen.has(inc)) return '';
    seen.add(inc);
    return scriptSource(inc, seen);
  });
}

const commandName = (name: ScriptName): string => `allotLimiter_${name}`;

/** Register every script on a connection. */
export function defineScripts(redis: Redis): void {
  for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) redis.defineCommand(commandName(name as ScriptName), { numberOfKeys, lua: scriptSource(name) });
}

type Command = (...args: (string | number)[]) => Promise<unknown>;

/** Run a registered script. */
export function runScript(redis: Redis, name: ScriptName, keys: readonly string[], argv: readonly (string | number)[]): Promise<unknown> {
  const cmd = (redis as unknown as Record<string, Command>)[commandName(name)] as Command;
  return cmd.call(redis, ...keys, ...argv);
}
