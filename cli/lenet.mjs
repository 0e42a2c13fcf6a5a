#!/usr/bin/env node
// Entry for the `lenet` bin: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

// The SDK's multi-line notice about Node < 22 would drown the CLI's one-line output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./lenet.ts');
