// TLS in a real browser: `tandem serve --tls-cert --tls-key` serves a page and the npm
// package over https:// and the WebSocket over wss://, on one port; headless Chromium trusts
// the server's certificate through `--ignore-certificate-errors-spki-list` (the SHA-256 of
// its public key, computed here) and nothing else: the same browser without the flag refuses
// the page.
//
// The certificate is made here with node:crypto alone (a P-256 key, and a self-signed X.509
// certificate for localhost and 127.0.0.1 whose DER this file writes): no OpenSSL, no
// package, nothing generated ahead.
//
// Needs TANDEM_BIN (the tandem binary) and the npm package in PKG_DIR (default ../../pkg);
// takes CHROMIUM / CHROMIUM_ARGS. `cargo xtask test` sets them all. Every wait is on a
// condition with a timeout; nothing sleeps.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const TANDEM = process.env.TANDEM_BIN;
const PKG = process.env.PKG_DIR ?? fileURLToPath(new URL("../../pkg/", import.meta.url));
const WAIT = 15_000;

/** Awaits `promise`, failing with `what` after WAIT. */
async function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT} ms waiting for ${what}`)), WAIT);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// --- A self-signed certificate, DER by hand (X.690) -------------------------------------

function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let m = n; m > 0; m >>= 8) bytes.unshift(m & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...parts) => tlv(0x30, ...parts);
const set = (...parts) => tlv(0x31, ...parts);
const octets = (bytes) => tlv(0x04, bytes);
const utf8 = (text) => tlv(0x0c, Buffer.from(text, "utf8"));
const explicit = (n, ...parts) => tlv(0xa0 | n, ...parts);
function oid(dotted) {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const v of rest) {
    const groups = [v & 0x7f];
    for (let m = v >> 7; m > 0; m >>= 7) groups.unshift((m & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}
function utcTime(date) {
  const two = (n) => String(n).padStart(2, "0");
  const text =
    two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate()) +
    two(date.getUTCHours()) + two(date.getUTCMinutes()) + two(date.getUTCSeconds()) + "Z";
  return tlv(0x17, Buffer.from(text, "ascii"));
}
const pem = (label, der) =>
  `-----BEGIN ${label}-----\n${der.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END ${label}-----\n`;

/** A P-256 key and a self-signed certificate for localhost and 127.0.0.1, valid for a day. */
function selfSigned() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const name = seq(set(seq(oid("2.5.4.3"), utf8("localhost"))));
  const now = Date.now();
  const validity = seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86_400_000)));
  const serial = randomBytes(16);
  // A positive INTEGER in minimal DER: the first byte 0x40-0x7f (with `&= 0x7f` alone, a
  // first byte of 0 before a byte below 0x80 was padding X.690 forbids: about one run in
  // 500 failed to parse).
  serial[0] = (serial[0] & 0x3f) | 0x40;
  const altNames = seq(tlv(0x82, Buffer.from("localhost")), tlv(0x87, Buffer.from([127, 0, 0, 1])));
  const extensions = explicit(
    3,
    seq(
      seq(oid("2.5.29.17"), octets(altNames)), // subjectAltName
      seq(oid("2.5.29.37"), octets(seq(oid("1.3.6.1.5.5.7.3.1")))), // extKeyUsage serverAuth
    ),
  );
  const tbs = seq(
    explicit(0, tlv(0x02, Buffer.from([2]))), // version 3
    tlv(0x02, serial),
    ecdsaWithSha256,
    name, // issuer
    validity,
    name, // subject
    spki,
    extensions,
  );
  const signature = sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const certPem = pem("CERTIFICATE", der);
  // Node reads it back and checks it, so a mistake here fails here.
  const x509 = new X509Certificate(certPem);
  assert.ok(x509.verify(publicKey), "the certificate's signature verifies");
  assert.equal(x509.checkHost("localhost"), "localhost");
  assert.equal(x509.checkIP("127.0.0.1"), "127.0.0.1");
  return {
    certPem,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }),
    spkiSha256: createHash("sha256").update(spki).digest("base64"),
  };
}

// --- The server and the browser -----------------------------------------------------------

/** `tandem serve` over TLS on a free port, serving `site`; resolves with its https:// URL. */
async function startServer(cert, key, site) {
  const args = ["serve", "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--static-dir", site];
  const child = spawn(TANDEM, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
  const line = await within(
    "tandem serve to print its address",
    new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`tandem serve exited with ${code}`)));
    }),
  );
  const match = /^tandem listening on (https:\/\/\S+)$/.exec(line);
  assert.ok(match, `unexpected first line ${line}`);
  return { child, url: match[1] };
}

function launch(extraArgs) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...(process.env.CHROMIUM_ARGS ?? "").split(" ").filter((a) => a && a !== "--headless"), ...extraArgs],
  });
}

test("a page served over https talks to tandem over wss through the npm package", { skip: !TANDEM && "TANDEM_BIN is not set" }, async () => {
  assert.ok(existsSync(join(PKG, "index.js")), `no npm package in ${PKG} (cargo xtask package builds it)`);
  const { certPem, keyPem, spkiSha256 } = selfSigned();
  const dir = await mkdtemp(join(tmpdir(), "tandem-tls-"));
  const browsers = [];
  let server;
  try {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const site = join(dir, "site");
    await writeFile(cert, certPem);
    await writeFile(key, keyPem, { mode: 0o600 });
    await cp(PKG, join(site, "pkg"), { recursive: true, dereference: true });
    await writeFile(join(site, "index.html"), '<!doctype html><meta charset="utf-8"><title>tandem over TLS</title>\n');
    server = await startServer(cert, key, site);

    // Without the flag the browser refuses the certificate: the flag is what trusts it.
    const untrusting = await launch([]);
    browsers.push(untrusting);
    const refused = await untrusting.newPage();
    await assert.rejects(refused.goto(`${server.url}/`, { timeout: WAIT }), /ERR_CERT/);

    const browser = await launch([`--ignore-certificate-errors-spki-list=${spkiSha256}`]);
    browsers.push(browser);
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT);
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(`${server.url}/`);

    const result = await within(
      "two clients of the page to exchange a message over wss",
      page.evaluate(async () => {
        const { Client } = await import("./pkg/index.js");
        const url = `wss://${location.host}/`;
        const ada = await Client.connect(url, { timeoutMs: 10_000 });
        const bo = await Client.connect(url, { timeoutMs: 10_000 });
        const adaRoom = await ada.join("tls");
        const boRoom = await bo.join("tls");
        const received = new Promise((resolve) => boRoom.on("message", (m) => resolve(m.data)));
        const seq = await adaRoom.publish({ hello: "over wss" });
        const data = await received;
        const health = await (await fetch("/healthz")).json();
        await ada.close();
        await bo.close();
        return { protocol: location.protocol, seq, data, health: health.status };
      }),
    );
    assert.deepEqual(result, { protocol: "https:", seq: 1, data: { hello: "over wss" }, health: "ok" });
    assert.equal(sockets.length, 2, `the page's sockets: ${sockets}`);
    for (const url of sockets) assert.ok(url.startsWith("wss://127.0.0.1:"), url);
  } finally {
    for (const b of browsers) await b.close();
    server?.child.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
