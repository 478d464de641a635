/**
 * A migration file as separate statements: D1 runs a batch of prepared
 * statements, one statement each. Statements end with `;` at the end of a
 * line; a CREATE TRIGGER runs to its `END;`. Comment lines are dropped.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let trigger = false;
  for (const line of sql.split('\n')) {
    const t = line.trim();
    if (cur.length === 0 && (t === '' || t.startsWith('--'))) continue;
    cur.push(line);
    if (cur.length === 1 && /^CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(t)) trigger = true;
    const ends = trigger ? /^END\s*;\s*(--.*)?$/i.test(t) : /;\s*(--.*)?$/.test(t);
    if (ends) {
      out.push(cur.join('\n').trim());
      cur = [];
      trigger = false;
    }
  }
  const rest = cur.join('\n').trim();
  if (rest !== '') out.push(rest);
  return out;
}
