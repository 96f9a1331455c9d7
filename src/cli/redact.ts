/** The key, in any form it can take in text, masked in everything the tool writes. */

/** The forms a key can take in text: as is, inside a JSON string, inside a URL. */
function secretForms(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])];
}

/** Replaces every occurrence of a secret, in any of its forms, with a marker, for any text headed to the user. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return secretForms(secret).reduce((t, form) => t.split(form).join("***"), text);
}
