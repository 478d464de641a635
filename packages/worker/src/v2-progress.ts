/** Progress of v2 packets, as GET /api/progress/{packet_id} answers it (seed 001: kept for an hour). */
import type { ProgressSink } from './progress.ts';
import { TtlMap } from './ttl-map.ts';

export interface PacketProgress {
  /** 'ready' after the handshake, then 'processing', 'completed' or 'failed'; 'unknown' for a packet never seen. */
  stage: string;
  /** 0-100. */
  progress: number;
  message: string;
  timestamp: string;
}

const PROGRESS_TTL_MS = 3_600_000;

export class ProgressBoard {
  readonly #packets = new TtlMap<string, PacketProgress>(PROGRESS_TTL_MS);

  set(packetId: string, stage: string, progress: number, message: string): void {
    this.#packets.set(packetId, { stage, progress, message, timestamp: new Date().toISOString() });
  }

  get(packetId: string): PacketProgress {
    return this.#packets.get(packetId) ?? { stage: 'unknown', progress: 0, message: `no packet ${packetId} here (never seen, acknowledged or expired)`, timestamp: new Date().toISOString() };
  }

  /** The last percentage reported for a packet (0 when none). */
  percent(packetId: string): number {
    return this.#packets.get(packetId)?.progress ?? 0;
  }

  delete(packetId: string): void {
    this.#packets.delete(packetId);
  }

  /** Where the handler's (coalesced) progress reports go while the packet is processed. */
  sink(packetId: string): ProgressSink {
    return (u) => this.set(packetId, 'processing', u.progress, u.message ?? '');
  }

  get size(): number {
    return this.#packets.size;
  }
}
