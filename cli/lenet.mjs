#!/usr/bin/env node
// Entry for the `lenet` bin: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./lenet.ts');
