// A stand-in for a legacy Orchestrator 2.0 worker, written from the seed's protocol
// (seed 001: handshake, process with references, progress, acknowledge, health).
// It is what teams migrating to Allot bring; Allot must drive it unchanged.
//
// Usage: node examples/v2-legacy/server.ts --port 0 --orchestrator http://127.0.0.1:8787 --token <worker token> --name legacy
// Work: counts the words of input.text and answers { words, upper } (upper-cased text).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9300' },
    host: { type: 'string', default: '127.0.0.1' },
    orchestrator: { type: 'string', default: 'http://127.0.0.1:8787' },
    token: { type: 'string', default: '' },
    name: { type: 'string', default: 'legacy' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
const delayMs = Number(values['delay-ms']);
const progress = new Map<string, { stage: string; progress: number; message: string; timestamp: string }>();
const results = new Map<string, unknown>();
const stats = { handshakes: 0, processed: 0, acknowledged: 0, fetchedRefs: 0 };

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const body = (req: IncomingMessage): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });

async function fetchFromOrchestrator(refId: string): Promise<unknown> {
  stats.fetchedRefs++;
  const r = await fetch(`${values.orchestrator}/api/data/${refId}`, { headers: { authorization: `Bearer ${values.token}`, 'x-worker-id': values.name as string } });
  if (!r.ok) throw new Error(`Failed to fetch reference: ${refId} (HTTP ${r.status})`);
  return r.json();
}

const server = createServer((req, res) => {
  void (async () => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/health') {
      return json(res, 200, {
        status: 'healthy', service: values.name, version: '2.0.0', timestamp: new Date().toISOString(),
        capabilities: { protocol_version: '2.0', supports_handshake: true, supports_references: true, supports_checkpoints: false },
        resources: { current_load: progress.size, queue_length: 0, avg_processing_time_ms: delayMs },
      });
    }
    if (req.method === 'GET' && url === '/stats') return json(res, 200, stats);
    if (req.method === 'GET' && url.startsWith('/api/progress/')) {
      return json(res, 200, progress.get(url.slice('/api/progress/'.length)) ?? { stage: 'unknown', progress: 0 });
    }
    if (req.method === 'GET' && url.startsWith('/api/data/')) {
      const v = results.get(url.slice('/api/data/'.length));
      return v === undefined ? json(res, 404, { error: 'not found' }) : json(res, 200, v);
    }
    if (req.method === 'POST' && url === '/api/handshake') {
      stats.handshakes++;
      const b = await body(req);
      const ok = Boolean(b.input_ref && typeof b.input_ref === 'object');
      return json(res, 200, {
        success: true, packet_id: b.packet_id, worker_name: values.name, status: ok ? 'ready' : 'incompatible',
        capabilities: { input_types: ['text', 'json', 'reference'], output_types: ['json'], max_processing_time_ms: 120000, supports_streaming: false, supports_checkpoints: false },
        resource_requirements: { min_memory_mb: 64, max_memory_mb: 128, estimated_cpu_ms: 50, api_calls: { openai: 1, anthropic: 0 } },
      });
    }
    if (req.method === 'POST' && url === '/api/process') {
      const b = await body(req);
      const packetId = String(b.packet_id);
      const ref = b.input_ref as { storage_type?: string; inline_data?: unknown; ref_id?: string };
      progress.set(packetId, { stage: 'processing', progress: 10, message: 'reading input', timestamp: new Date().toISOString() });
      const input = (ref.storage_type === 'inline' ? ref.inline_data : await fetchFromOrchestrator(String(ref.ref_id))) as { text?: string };
      const text = String(input?.text ?? '');
      progress.set(packetId, { stage: 'processing', progress: 60, message: 'counting', timestamp: new Date().toISOString() });
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const words = text.split(/\s+/).filter(Boolean).length;
      const result = { words, upper: text.toUpperCase() };
      const serialized = JSON.stringify(result);
      let outputRef: Record<string, unknown>;
      if (Buffer.byteLength(serialized) < 1024) outputRef = { ref_id: `ref_${Date.now()}`, storage_type: 'inline', inline_data: result, size_bytes: Buffer.byteLength(serialized) };
      else {
        const refId = `ref_${randomUUID()}`;
        results.set(refId, result);
        outputRef = { ref_id: refId, storage_type: 'reference', size_bytes: Buffer.byteLength(serialized), expires_at: new Date(Date.now() + 86_400_000).toISOString() };
      }
      progress.set(packetId, { stage: 'done', progress: 100, message: 'done', timestamp: new Date().toISOString() });
      stats.processed++;
      return json(res, 200, { success: true, packet_id: packetId, output_ref: outputRef, metrics: { processing_time_ms: delayMs, tokens_used: words, api_calls_made: 1 } });
    }
    if (req.method === 'POST' && url === '/api/acknowledge') {
      const b = await body(req);
      progress.delete(String(b.packet_id));
      stats.acknowledged++;
      return json(res, 200, { success: true, packet_id: b.packet_id, acknowledged: true });
    }
    json(res, 404, { error: `no route ${req.method} ${url}` });
  })().catch((err: unknown) => json(res, 500, { success: false, error: { code: 'INTERNAL', message: String(err) } }));
});

server.listen(Number(values.port), values.host, () => {
  console.log(`listening on http://${values.host}:${(server.address() as AddressInfo).port}`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
