import { defineConfig } from "vite";

// Built into dist/, which the server serves at /. No inline scripts or styles (the CSP forbids them).
export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0, sourcemap: true },
});
