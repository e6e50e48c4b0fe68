#!/usr/bin/env node
// The browser scenario's driver, started by `tandem-chaos browser`: opens PAGES Chromium
// pages at PAGE_URL (page.js: one subscriber each, through the npm package and the
// cutting proxy), then reports.
//
// Environment: PAGE_URL, PAGES, PLAYWRIGHT_FROM (a directory whose node_modules holds
// playwright-core), CHROMIUM, CHROMIUM_ARGS (space separated), READY_MS, TAIL_MS.
//
// Protocol on stdio, one JSON object a line:
//   stdout {"ready":PAGES}         every page has joined: the publisher may start
//   stdin  {"last":N}              the publisher's last acknowledged number
//   stdout {"page":i, ...}         each page's window.chaos once every page is open with
//                                  message N (or TAIL_MS passed), then the script exits 0
// Any failure: `run.mjs: error: ...` on stderr and exit 1. Every wait has a timeout.

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import path from "node:path";
import { pathToFileURL } from "node:url";

const env = (name, fallback) => process.env[name] ?? fallback;
const PAGE_URL = env("PAGE_URL");
const PAGES = Number(env("PAGES", "3"));
const READY_MS = Number(env("READY_MS", "60000"));
const TAIL_MS = Number(env("TAIL_MS", "60000"));

async function loadPlaywright(from) {
  const require = createRequire(path.join(path.resolve(from), "package.json"));
  const mod = await import(pathToFileURL(require.resolve("playwright-core")).href);
  return mod.chromium ? mod : mod.default;
}

/** The first line of stdin, parsed, within `ms`. */
function readLine(ms) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    const timer = setTimeout(() => reject(new Error(`no instruction on stdin within ${ms} ms`)), ms);
    const closed = () => reject(new Error("stdin closed"));
    lines.once("line", (line) => {
      clearTimeout(timer);
      lines.off("close", closed);
      lines.close();
      try {
        resolve(JSON.parse(line));
      } catch (err) {
        reject(new Error(`bad instruction ${line}: ${err.message}`));
      }
    });
    lines.once("close", closed);
  });
}

async function main() {
  if (!PAGE_URL) throw new Error("PAGE_URL is not set");
  const { chromium } = await loadPlaywright(env("PLAYWRIGHT_FROM", "www"));
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    args: env("CHROMIUM_ARGS", "--headless --no-sandbox --disable-gpu").split(" ").filter((a) => a),
  });
  try {
    const pages = [];
    for (let i = 0; i < PAGES; i++) {
      const page = await browser.newPage();
      const problems = [];
      page.on("pageerror", (err) => problems.push(err.message));
      await page.goto(PAGE_URL, { timeout: READY_MS });
      pages.push({ page, problems });
    }
    for (const [i, { page, problems }] of pages.entries()) {
      await page
        .waitForFunction(() => window.chaosReady === true || window.chaosError !== undefined, null, { timeout: READY_MS, polling: 100 })
        .catch((err) => {
          throw new Error(`page ${i} not ready: ${err.message.split("\n")[0]} ${problems.join("; ")}`);
        });
      const error = await page.evaluate(() => window.chaosError);
      if (error !== undefined) throw new Error(`page ${i} failed: ${error}`);
    }
    console.log(JSON.stringify({ ready: PAGES }));

    const { last } = await readLine(READY_MS + TAIL_MS + 600_000);
    const deadline = Date.now() + TAIL_MS;
    let states;
    for (;;) {
      states = await Promise.all(pages.map(({ page }) => page.evaluate(() => ({ ...window.chaos }))));
      const behind = states.filter((s) => !(s.open && !s.left && s.maxN >= last)).length;
      if (behind === 0 || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const [i, s] of states.entries()) console.log(JSON.stringify({ page: i, ...s }));
  } finally {
    await browser.close().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`run.mjs: error: ${err?.message ?? err}`);
    process.exit(1);
  },
);
