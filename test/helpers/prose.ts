/**
 * Made-up prose of a given size, different for each seed: large inputs for
 * the tokenizer (the big-inputs test and the bench's big-inputs phase).
 */
const WORDS = 'token bucket budget hold worker lease fairness priority queue refill capacity model provider invoice latency throughput'.split(' ');

/** About `bytes` of prose, different for each `seed`. */
export function prose(seed: number, bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  let x = seed * 2654435761;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = WORDS[x % WORDS.length] as string;
    parts.push(x % 17 === 0 ? `${w}.` : w);
    n += w.length + 1;
  }
  return parts.join(' ').slice(0, bytes);
}
