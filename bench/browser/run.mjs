#!/usr/bin/env node
// Benchmark figure 5: headless Chromium receiving a stream of small messages from one
// `tandem serve`: messages/s delivered to a JS callback through the npm package (mode sdk)
// vs a plain WebSocket + JSON.parse page (mode plain).
//
// Environment (all optional but TANDEM_BIN when the repo has no built binary):
//   TANDEM_BIN       the tandem binary (default: the newer of ../../target/{release,debug}/tandem)
//   PKG_DIR          the npm package dir, copied next to the page as pkg/ (default ../../pkg)
//   PUBLISHER        JSON array argv of the stream's publisher; run.mjs appends
//                    `--url ws://127.0.0.1:PORT/ --room R --count N`, runs it once the page has
//                    joined, and expects exit status 0 once all N are published. If its last stdout
//                    line is JSON with `messages_per_s`, that rate is reported as publisher_messages_per_s.
//                    (default: ["../../target/release/tandem-bench", "stream"], the load
//                    generator's publisher; `cargo xtask bench` builds it)
//   COUNT            messages per measurement (default 20000)
//   RUNS             measurements per mode and scenario (default 3); run by run: sdk then plain
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   CHROMIUM_ARGS    its flags, space separated
//                    (default "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync")
//   PLAYWRIGHT_FROM  a directory whose node_modules holds playwright-core (default ../../www)
//   DEBUG            if set, failures also print their stack
//   PROFILE          a directory: each measurement is also CPU-profiled through the Chrome
//                    DevTools protocol, written there as <scenario>-<mode>-<run>.cpuprofile
//                    (open it in DevTools), and its top functions by self time go to stderr
//   SCENARIOS        comma separated, default "live":
//                    live     the page receives while the publisher publishes; the rate is from
//                             message 1 to message N: (N - 1) / time
//                    backlog  the page holds its main thread busy (see bench.js benchHold) until
//                             the publisher is done, then drains: N / time from the release. This
//                             takes the publisher and the server (which share the CPU) out of
//                             the pace, leaving the browser's own receive path.
//
// Output on stdout, one JSON line per measurement, then the medians per scenario:
//   {"figure":"browser","mode":"sdk","run":1,"messages_per_s":12345.6,"ms":...,"count":N,"publisher_messages_per_s":...}
//   {"figure":"browser_median","sdk":...,"plain":...,"ratio":...}      (ratio = sdk / plain)
// and for the backlog scenario the same with figures "browser_backlog" and "browser_backlog_median".
// Exits 1 with `run.mjs: error: ...` on stderr on any failure. Every wait has a timeout;
// nothing sleeps to synchronise.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { existsSync, statSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");

const READY_TIMEOUT_MS = 30_000;
const RESULT_TIMEOUT_MS = 60_000;
const SERVER_START_TIMEOUT_MS = 15_000;
const MODES = ["sdk", "plain"];
const SCENARIOS = { live: "browser", backlog: "browser_backlog" }; // scenario -> figure

/** The newer of target/release/tandem and target/debug/tandem (a stale build may lack flags). */
function defaultTandem() {
  const built = ["release", "debug"]
    .map((profile) => path.join(ROOT, "target", profile, "tandem"))
    .filter((candidate) => existsSync(candidate))
    .map((candidate) => ({ candidate, mtime: statSync(candidate).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return built[0]?.candidate;
}

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function scenarios() {
  const list = (process.env.SCENARIOS || "live").split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const scenario of list) {
    if (!(scenario in SCENARIOS)) throw new Error(`SCENARIOS: unknown scenario ${JSON.stringify(scenario)} (known: ${Object.keys(SCENARIOS).join(", ")})`);
  }
  if (list.length === 0) throw new Error("SCENARIOS is empty");
  return list;
}

function config() {
  const tandem = process.env.TANDEM_BIN || defaultTandem();
  if (!tandem || !existsSync(tandem)) throw new Error(`no tandem binary: set TANDEM_BIN (got ${JSON.stringify(tandem)})`);
  const pkgDir = path.resolve(process.env.PKG_DIR || path.join(ROOT, "pkg"));
  if (!existsSync(path.join(pkgDir, "index.js"))) throw new Error(`PKG_DIR ${pkgDir} holds no index.js (build the npm package first)`);
  let publisher = [path.join(ROOT, "target", "release", "tandem-bench"), "stream"];
  if (process.env.PUBLISHER) {
    try {
      publisher = JSON.parse(process.env.PUBLISHER);
    } catch (err) {
      throw new Error(`PUBLISHER must be a JSON array of strings: ${err.message}`);
    }
    if (!Array.isArray(publisher) || publisher.length === 0 || !publisher.every((s) => typeof s === "string")) {
      throw new Error(`PUBLISHER must be a non-empty JSON array of strings, got ${process.env.PUBLISHER}`);
    }
  }
  return {
    tandem,
    pkgDir,
    publisher,
    count: positiveInt("COUNT", 20_000),
    runs: positiveInt("RUNS", 3),
    chromium: process.env.CHROMIUM || "/usr/bin/chromium",
    chromiumArgs: (process.env.CHROMIUM_ARGS ??
      "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync")
      .split(" ")
      .filter((arg) => arg !== ""),
    playwrightFrom: path.resolve(process.env.PLAYWRIGHT_FROM || path.join(ROOT, "www")),
    scenarios: scenarios(),
    profileDir: process.env.PROFILE ? path.resolve(process.env.PROFILE) : undefined,
  };
}

async function loadPlaywright(from) {
  const require = createRequire(path.join(from, "package.json"));
  let resolved;
  try {
    resolved = require.resolve("playwright-core");
  } catch (err) {
    throw new Error(`playwright-core not found from ${from} (set PLAYWRIGHT_FROM to a dir whose node_modules has it): ${err.message}`);
  }
  const mod = await import(pathToFileURL(resolved).href);
  return mod.chromium ? mod : mod.default;
}

/** Awaits `promise`, failing with `what` after `ms`. */
async function within(what, ms, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last lines of a stream, for error messages. */
function tail(stream, keep = 20) {
  const lines = [];
  createInterface({ input: stream }).on("line", (line) => {
    lines.push(line);
    if (lines.length > keep) lines.shift();
  });
  return lines;
}

async function startServer(cfg, staticDir) {
  const args = [
    "serve",
    "--addr", "127.0.0.1:0",
    "--static-dir", staticDir,
    "--any-origin",
    "--rate", "10000000",
    "--burst", "10000000",
    "--outbound-queue", "10000000",
    "--max-message-bytes", "65536",
    "--log", "warn",
  ];
  const child = spawn(cfg.tandem, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = tail(child.stderr);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  const first = await within("tandem serve to print its address", SERVER_START_TIMEOUT_MS, new Promise((resolve, reject) => {
    lines.once("line", resolve);
    child.once("error", reject);
    exited.then(({ code, signal }) => reject(new Error(`tandem serve exited (${code ?? signal}) before listening: ${stderr.join("\n")}`)));
  })).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  lines.on("line", () => {}); // keep draining stdout
  const match = /^tandem listening on http:\/\/(\S+)$/.exec(first);
  if (!match) {
    child.kill("SIGKILL");
    throw new Error(`unexpected first line from tandem serve: ${first}`);
  }
  return {
    addr: match[1],
    child,
    stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await within("tandem serve to stop", 10_000, exited).catch(() => child.kill("SIGKILL"));
      }
    },
  };
}

/** Runs the publisher to completion; resolves with its rate if it printed one. */
async function publish(cfg, addr, room) {
  const [cmd, ...rest] = cfg.publisher;
  const argv = [...rest, "--url", `ws://${addr}/`, "--room", room, "--count", String(cfg.count)];
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  const stdout = tail(child.stdout);
  const stderr = tail(child.stderr);
  const result = new Promise((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`publisher ${JSON.stringify(cfg.publisher)} failed to start: ${err.message}`)));
    child.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`publisher exited with ${code ?? signal}: ${[...stdout, ...stderr].join("\n")}`));
    });
  });
  try {
    await within("the publisher to finish", RESULT_TIMEOUT_MS, result);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  try {
    const report = JSON.parse(stdout.at(-1) ?? "");
    return typeof report.messages_per_s === "number" ? report.messages_per_s : undefined;
  } catch {
    return undefined;
  }
}

async function measure(cfg, browser, server, staticDir, scenario, mode, run) {
  const room = `bench-${process.pid}-${run}-${scenario}-${mode}-${Date.now().toString(36)}`;
  const release = `release-${room}.txt`;
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error" && msg.type() !== "warning") return;
    // The backlog hold polls its release file, which is a 404 until the publisher is done.
    if (/status of 404/.test(msg.text()) || /Synchronous XMLHttpRequest/.test(msg.text())) return;
    problems.push(`console.${msg.type()}: ${msg.text()}`);
    if (problems.length > 10) problems.shift();
  });
  const context = () => (problems.length ? `\n  page said:\n  ${problems.join("\n  ")}` : "");
  try {
    const url = `http://${server.addr}/?mode=${mode}&room=${encodeURIComponent(room)}&count=${cfg.count}`;
    await page.goto(url, { timeout: READY_TIMEOUT_MS });
    await page
      .waitForFunction(() => window.benchReady === true || window.benchError !== undefined, null, { timeout: READY_TIMEOUT_MS, polling: 100 })
      .catch((err) => {
        throw new Error(`${mode} page not ready: ${err.message.split("\n")[0]}${context()}`);
      });
    let error = await page.evaluate(() => window.benchError);
    if (error !== undefined) throw new Error(`${mode} page failed before the stream: ${error}${context()}`);

    const profiler = cfg.profileDir ? await startProfiler(page) : undefined;
    if (scenario === "backlog") {
      await page.evaluate((releasePath) => window.benchHold(releasePath), `/${release}`);
    }
    const published = publish(cfg, server.addr, room).finally(async () => {
      if (scenario === "backlog") await fs.writeFile(path.join(staticDir, release), "go\n");
    });
    const finished = page
      .waitForFunction(() => window.benchResult !== undefined || window.benchError !== undefined, null, { timeout: RESULT_TIMEOUT_MS, polling: 100 })
      .catch(async (err) => {
        const got = await page.evaluate(() => document.getElementById("status")?.textContent).catch(() => "?");
        throw new Error(`${mode} page gave no result: ${err.message.split("\n")[0]} (page status: ${got})${context()}`);
      });
    const [publisherRate] = await Promise.all([published, finished]);
    if (profiler) await stopProfiler(profiler, path.join(cfg.profileDir, `${scenario}-${mode}-${run}.cpuprofile`));
    error = await page.evaluate(() => window.benchError);
    if (error !== undefined) throw new Error(`${mode} page failed during the stream: ${error}${context()}`);
    const result = await page.evaluate(() => window.benchResult);
    if ((scenario === "backlog") !== result.backlog) throw new Error(`${mode} page: backlog=${result.backlog} in scenario ${scenario}`);
    const line = { figure: SCENARIOS[scenario], mode, run, messages_per_s: result.messagesPerSecond, ms: result.ms, count: result.count };
    if (publisherRate !== undefined) line.publisher_messages_per_s = publisherRate;
    console.log(JSON.stringify(line));
    return result.messagesPerSecond;
  } finally {
    await page.close().catch(() => {});
  }
}

/** Starts the V8 sampling profiler of `page` (PROFILE). */
async function startProfiler(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  return cdp;
}

/** Stops it, writes the profile to `file`, and prints its top functions by self time. */
async function stopProfiler(cdp, file) {
  const { profile } = await cdp.send("Profiler.stop");
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(profile));
  const self = new Map();
  const sampled = profile.samples.length || 1;
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const name = `${frame.functionName || "(anonymous)"} ${path.basename(frame.url || "")}`.trim();
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  console.error(`profile ${path.basename(file)} (${sampled} samples), self time:`);
  for (const [name, hits] of top) console.error(`  ${((100 * hits) / sampled).toFixed(1).padStart(5)}%  ${name}`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main() {
  const cfg = config();
  const { chromium } = await loadPlaywright(cfg.playwrightFrom);

  const staticDir = await fs.mkdtemp(path.join(os.tmpdir(), "tandem-bench-browser-"));
  let server;
  let browser;
  try {
    await fs.copyFile(path.join(HERE, "index.html"), path.join(staticDir, "index.html"));
    await fs.copyFile(path.join(HERE, "bench.js"), path.join(staticDir, "bench.js"));
    await fs.cp(cfg.pkgDir, path.join(staticDir, "pkg"), { recursive: true, dereference: true });

    server = await startServer(cfg, staticDir);
    browser = await chromium.launch({ executablePath: cfg.chromium, args: cfg.chromiumArgs });

    const rates = Object.fromEntries(cfg.scenarios.map((scenario) => [scenario, { sdk: [], plain: [] }]));
    for (let run = 1; run <= cfg.runs; run++) {
      for (const scenario of cfg.scenarios) {
        for (const mode of MODES) {
          if (server.child.exitCode !== null || server.child.signalCode !== null) {
            throw new Error(`tandem serve died: ${server.stderr.join("\n")}`);
          }
          rates[scenario][mode].push(await measure(cfg, browser, server, staticDir, scenario, mode, run));
        }
      }
    }
    for (const scenario of cfg.scenarios) {
      const sdk = median(rates[scenario].sdk);
      const plain = median(rates[scenario].plain);
      console.log(JSON.stringify({ figure: `${SCENARIOS[scenario]}_median`, sdk, plain, ratio: sdk / plain }));
    }
    const notable = server.stderr.filter((line) => !line.includes("no --token-secret"));
    if (notable.length) console.error(`tandem serve stderr (last lines):\n${notable.join("\n")}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server) await server.stop();
    await fs.rm(staticDir, { recursive: true, force: true }).catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`run.mjs: error: ${err?.message ?? err}`);
    if (process.env.DEBUG && err?.stack) console.error(err.stack);
    process.exit(1);
  },
);
