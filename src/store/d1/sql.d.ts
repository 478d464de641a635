/** SQL files imported as text (src/cf/build.ts bundles them with esbuild's text loader; only Workers bundles import them). */
declare module '*.sql' {
  const sql: string;
  export default sql;
}
