/**
 * Runs in a worker thread: checkpoints the WAL of the database at
 * `workerData.path` every `workerData.intervalMs`, on its own connection.
 * A PASSIVE checkpoint never blocks the writer, and its fsyncs happen here
 * instead of inside a COMMIT on the main thread (where SQLite's automatic
 * checkpoint would stall the event loop for milliseconds at a time).
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 1000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch (err) {
    parentPort?.postMessage({ error: String(err) });
  }
}, intervalMs);
parentPort?.on('message', (m: unknown) => {
  if (m === 'stop') {
    clearInterval(timer);
    try {
      checkpoint.get();
    } finally {
      db.close();
      parentPort?.close();
    }
  }
});
