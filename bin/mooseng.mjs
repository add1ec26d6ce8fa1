#!/usr/bin/env node
// The `mooseng` command: registers tsx so that the TypeScript sources run as they are, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/mooseng.ts');
process.exitCode = await main(process.argv.slice(2));
