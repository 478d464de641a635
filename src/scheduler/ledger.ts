/**
 * The ledger moved to src/limiter/ledger.ts, where LocalLimiter builds on
 * it; this path stays for the scheduler until it calls the Limiter.
 */
export { ResourceLedger, type Amounts, type DrawContext, type PoolLevel, type Reserved } from '../limiter/ledger.ts';
