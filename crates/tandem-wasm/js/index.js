// The package entry: the API (api.js) over the wasm module, which loads on the first
// `Client.connect`, so importing the package (in a server-rendered page, under Node) loads
// and runs nothing.
import init, { Core } from "./tandem.js";
import { install } from "./api.js";

let loading;

/** Loads the wasm once: fetched beside this file in a browser, read from disk under Node. */
function load() {
  loading ??= (async () => {
    const url = new URL("tandem_bg.wasm", import.meta.url);
    if (url.protocol !== "file:") return init();
    // A name in a variable: bundlers leave the import alone, browsers never reach it.
    const fs = "node:fs/promises";
    const { readFile } = await import(/* @vite-ignore */ fs);
    return init({ module_or_path: await readFile(url) });
  })();
  return loading;
}

export const { Client, Room, TandemError } = install(
  (options, refresh, seed) => new Core(options, refresh, seed),
  load,
);
