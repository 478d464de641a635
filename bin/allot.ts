#!/usr/bin/env node
// The `allot` command (package bin). Run as `npx allot <command>` in a checkout.
import '../src/cli.ts';
