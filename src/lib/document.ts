/**
 * Image documents (indexes, manifests, configs): JSON objects that describe an image and
 * are small. Every reader of one takes it through here, under one cap per document and
 * one budget per input, so a few KB of hostile archive cannot cost gigabytes.
 */
import type { UploadError } from "../errors.ts";

/** No index, manifest or config is larger: anything larger is not one we can use. */
const DOCUMENT_CAP = 8 * 1024 * 1024;
/** All the documents one input may make us read, together. */
const DOCUMENTS_BUDGET = 32 * 1024 * 1024;

/** The JSON object (or array) `text` holds, or undefined for anything else. The one such parser. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The object a document holds, or `bad()` where it holds something else. */
export function parseDocument(bytes: Uint8Array, bad: () => UploadError): Record<string, unknown> {
  const doc = jsonObject(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  if (!doc) throw bad();
  return doc;
}

/** Counts what one input's documents cost, and refuses the one that goes past the cap or the budget. */
export class DocumentBudget {
  private spent = 0;
  constructor(private readonly refuse: (message: string) => UploadError) {}

  take(size: number, what: string): void {
    if (size > DOCUMENT_CAP) throw this.refuse(`${what} is ${size} bytes, more than any image document needs (${DOCUMENT_CAP})`);
    this.spent += size;
    if (this.spent > DOCUMENTS_BUDGET) throw this.refuse(`its documents add up to more than ${DOCUMENTS_BUDGET} bytes`);
  }
}
