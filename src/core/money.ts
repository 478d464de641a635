/**
 * Money is kept as integer nano-dollars (1e-9 USD) so that sums are exact:
 * a client's total is exactly the sum of its requests' costs. A request's
 * cost is rounded once, to the nearest nano-dollar, when it is computed.
 */
export type Nano = number;

export const NANO_PER_USD = 1_000_000_000;

export function usdToNano(usd: number): Nano {
  return Math.round(usd * NANO_PER_USD);
}

export function nanoToUsd(nano: Nano): number {
  // Round to 9 decimals so 0.1 + 0.2 style noise never shows in the API.
  return Number((nano / NANO_PER_USD).toFixed(9));
}
