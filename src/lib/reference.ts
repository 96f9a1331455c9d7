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
