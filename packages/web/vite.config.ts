import { defineConfig } from "vite";

// Built into dist/, which the server serves at /. No inline scripts or styles (the CSP forbids them).
// JSX: Preact's automatic runtime through Vite's own transformer (oxc), no framework plugin.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0, sourcemap: true, modulePreload: { polyfill: false } },
});
