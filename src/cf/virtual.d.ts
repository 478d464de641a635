/** Modules src/cf/build.ts makes when bundling a Worker. */
declare module 'allot:dashboard' {
  /** The dashboard's files (src/http/dashboard/) by file name. */
  const files: Readonly<Record<string, string>>;
  export default files;
}
