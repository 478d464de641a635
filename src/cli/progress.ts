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
    const tenth = Math.floor(pct / 10);
    if (done < total && (lastTenth.get(what) ?? -1) >= tenth) return;
    if (done >= total && lastTenth.get(what) === 11) return;
    lastTenth.set(what, done >= total ? 11 : tenth);
    stream.write(`${line}\n`);
  };
}
