/** Where a tar walker found an archive torn or malformed, for the caller to phrase for its source. */
export class TornArchive extends Error {}
