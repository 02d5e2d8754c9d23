// Loads the C++ addon. The path must stay a literal relative require so that
// `bun build --compile` embeds the .node file into the single executable.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon: unknown = require("../../build/Release/ukv_native.node");

export type NativeAddon = Record<string, unknown> & { version(): string };

export const native = addon as NativeAddon;
