#!/usr/bin/env node
// Installed as `dirac` before any build exists (npm links bins at install time); the CLI itself is built
// into dist/ by `npm run build`.
import '../dist/cli.js';
