/** Image references as Docker reads them: [registry/]path[:tag][@digest]. */

/** The image name without its tag or digest: "reg:5000/app:1.0" → "reg:5000/app". */
export function repository(image: string): string {
  const name = image.split("@")[0] as string;
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
}

/** Docker's rule: a first component with a dot or a port, or "localhost", names a registry. */
export function hasRegistry(image: string): boolean {
  const slash = image.indexOf("/");
  if (slash < 0) return false;
  const first = image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}

/** The name the server can push: inside its registry prefix, unless the name already says where it goes. */
export function inPrefix(image: string, prefix: string | undefined): string {
  if (!prefix || hasRegistry(image)) return image;
  return `${prefix.replace(/\/+$/, "")}/${image}`;
}

/** A registry host as the reference grammar has it: dotted labels or an IPv6 address in brackets, then a port. */
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
/** A path component: lowercase alphanumerics joined by one of . _ __ or dashes. */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;

/** Whether `ref` is an image reference an engine or registry takes (distribution's grammar), as the server will be given it. */
export function isReference(ref: string): boolean {
  const [named = "", digest, ...more] = ref.split("@");
  if (more.length > 0 || (digest !== undefined && !DIGEST.test(digest))) return false;
  const name = repository(named);
  const tag = named.slice(name.length + 1);
  if (named.length > name.length && !TAG.test(tag)) return false;
  if (name.length === 0 || name.length > 255) return false;
  const parts = name.split("/");
  if (hasRegistry(name) && !DOMAIN.test(parts.shift() as string)) return false;
  return parts.every((p) => COMPONENT.test(p));
}
