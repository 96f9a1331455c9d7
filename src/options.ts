/**
 * The words the command line accepts, shared by the parser and the modules that act on
 * them, so neither has to import the other.
 */
export const PULL_POLICIES = ["missing", "always", "never"] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

export const GZIP_MODES = ["parallel", "single"] as const;
export type GzipMode = (typeof GZIP_MODES)[number];

/** runtime: the original uploader's form ([UP]); openhands: RemoteRuntimeBuilder's ([OH]). */
export const FORM_SHAPES = ["runtime", "openhands"] as const;
export type FormShape = (typeof FORM_SHAPES)[number];

export const ENGINES = ["auto", "docker", "podman"] as const;

/** image: the docker save archive as it is; dockerfile: a build context that rebuilds it (FROM scratch). */
export const CONTEXTS = ["image", "dockerfile"] as const;
export type ContextKind = (typeof CONTEXTS)[number];
