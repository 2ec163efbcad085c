// HTTPS material: the user's certificate, or a self-signed one for localhost generated once into the data folder.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TlsMaterial {
  cert: string;
  key: string;
  /** Path of the certificate file, for NODE_EXTRA_CA_CERTS. */
  certPath: string;
  generated: boolean;
}

export async function loadTls(dataDir: string, certFile?: string, keyFile?: string): Promise<TlsMaterial> {
  if (certFile && keyFile) {
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certPath: certFile, generated: false };
  }
  const certPath = join(dataDir, "tls-cert.pem");
  const keyPath = join(dataDir, "tls-key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    chmodSync(keyPath, 0o600); // also a key written by an older version or copied in
    return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), certPath, generated: false };
  }
  const { generate } = await import("selfsigned"); // only on first start: it costs ~0.1 s to load
  const now = Date.now();
  const pems = await generate([{ name: "commonName", value: "localhost" }, { name: "organizationName", value: "Natter development" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + 825 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
    ],
  });
  // selfsigned's PEM has no final newline: add it, so that `cat a.pem b.pem` is a valid bundle.
  const cert = withNewline(pems.cert);
  const key = withNewline(pems.private);
  writeFileSync(keyPath, key, { mode: 0o600 });
  writeFileSync(certPath, cert, { mode: 0o644 });
  return { cert, key, certPath, generated: true };
}

function withNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : pem.replace(/\r?\n?$/, "\n");
}
