#!/usr/bin/env node
// The `natter` command. Run `npm run build` (or `npm install`) first: it runs the compiled server.
import { main } from "../dist/main.js";

await main(process.argv.slice(2));
