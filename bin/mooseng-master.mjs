#!/usr/bin/env node
// The `mooseng-master` daemon: registers tsx so that the TypeScript sources run as they are, then starts it.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/master.ts');
