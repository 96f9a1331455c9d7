// The sha256 of what is sent, off the main thread: chunks arrive in order (transferred),
// are hashed, and go back (transferred) to be sent; "end" answers with the digest.
declare const self: Worker;

const hasher = new Bun.CryptoHasher("sha256");

self.onmessage = (event: MessageEvent<Uint8Array | "end">) => {
  const chunk = event.data;
  if (chunk === "end") {
    self.postMessage(hasher.digest("hex"));
    return;
  }
  hasher.update(chunk);
  self.postMessage(chunk, [chunk.buffer as ArrayBuffer]);
};
