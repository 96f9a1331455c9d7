/**
 * The layering of src/, checked in CI (`npm run -s arch`). Each folder is one stage of the
 * data flow and may import only the stages below it, never one above, and never in a
 * cycle. src/errors.ts is below every stage; src/cli.ts, the entry point, is above all.
 *
 *   cli/      flags, commands, everything printed
 *   job/      the upload job: the target image, the source, the upload, the wait
 *   upload/   the request body and its attempts       context/  image → Dockerfile build context
 *   source/   engine, file, stdin, OCI layout or archive
 *   tar/      check, list, read, write                 gzip/  blocks → members      api/  the Runtime-API
 *   lib/      streams, retry, references, documents: imported by any stage, imports none
 */
const STAGES = [["lib"], ["tar", "gzip", "api"], ["source"], ["upload", "context"], ["job"], ["cli"]];

const rank = Object.fromEntries(STAGES.flatMap((names, i) => names.map((n) => [n, i])));
const all = Object.keys(rank);

/** A stage may not import a stage of its own rank (other than itself) or above. */
const layering = all.map((stage) => {
  const forbidden = all.filter((other) => other !== stage && rank[other] >= rank[stage]);
  return {
    name: `no-import-up-from-${stage}`,
    comment: `src/${stage}/ may import only stages below it: ${all.filter((o) => rank[o] < rank[stage]).join(", ") || "none"}`,
    severity: "error",
    from: { path: `^src/${stage}/` },
    to: { path: `^src/(${forbidden.join("|")})/|^src/cli\\.ts$` },
  };
});

module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    ...layering,
    {
      name: "errors-import-nothing",
      comment: "src/errors.ts is below every stage",
      severity: "error",
      from: { path: "^src/errors\\.ts$" },
      to: { path: "^src/" },
    },
    {
      name: "only-cli-prints",
      comment: "consola writes to the terminal: only cli/ prints",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "node_modules/consola" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
