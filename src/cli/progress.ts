/**
 * How far a long command got, on stderr (stdout keeps the report): on a
 * terminal one line redrawn in place at most every 100 ms; elsewhere (a
 * log, a pipe) a line at each tenth of a table and at its end.
 */
export type Progress = (what: string, done: number, total: number) => void;

export function progressPrinter(stream: NodeJS.WriteStream): Progress {
  const tty = stream.isTTY === true;
  let lastDraw = 0;
  const lastTenth = new Map<string, number>();
  return (what, done, total) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    const line = `${what}: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows (${pct}%)`;
    if (tty) {
      const now = Date.now();
      if (done < total && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${line}${done >= total ? '\n' : ''}`);
      return;
    }
    // Below the end pct is at most 99, so the end (100%) is its own tenth and is printed once.
    const tenth = Math.floor(pct / 10);
    if ((lastTenth.get(what) ?? -1) >= tenth) return;
    lastTenth.set(what, tenth);
    stream.write(`${line}\n`);
  };
}

/**
 * For work that says nothing until it ends: `what…` once, then on a
 * terminal the seconds so far, redrawn every second; `stop()` ends the line
 * with the total.
 */
export function elapsedPrinter(stream: NodeJS.WriteStream, what: string): { stop(): void } {
  const t0 = Date.now();
  const tty = stream.isTTY === true;
  const secs = () => `${Math.round((Date.now() - t0) / 1_000)} s`;
  stream.write(tty ? `${what}…` : `${what}…\n`);
  const timer = tty ? setInterval(() => stream.write(`\r\x1b[2K${what}… ${secs()}`), 1_000) : null;
  return {
    stop() {
      if (timer) clearInterval(timer);
      stream.write(tty ? `\r\x1b[2K${what}: done in ${secs()}\n` : `${what}: done in ${secs()}\n`);
    },
  };
}
