// The demo is built into dist/, which `tandem serve --static-dir www/dist` serves.
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    // The package loads its wasm module with a top-level await.
    target: "es2022",
  },
  optimizeDeps: {
    // Pre-bundling would move the package away from its .wasm file.
    exclude: ["tandem-sdk"],
  },
  server: {
    // `npm run dev` (optional): the page talks to a `tandem serve` on :8080.
    proxy: { "/ws": { target: "ws://127.0.0.1:8080", ws: true } },
  },
});
