import pkg from "../../package.json" with { type: "json" };

// Replaced at build time by build.ts (bun build --define); absent when run from source.
declare const RUNTIME_UPLOAD_VERSION: string | undefined;
declare const RUNTIME_UPLOAD_COMMIT: string | undefined;

const VERSION = typeof RUNTIME_UPLOAD_VERSION === "string" ? RUNTIME_UPLOAD_VERSION : pkg.version;
const COMMIT = typeof RUNTIME_UPLOAD_COMMIT === "string" ? RUNTIME_UPLOAD_COMMIT : "dev";
export const VERSION_TEXT = `${VERSION} (commit ${COMMIT})`;
