// How to start another process of this same program: the compiled binary (`bun build --compile`)
// is its own interpreter, so it is process.execPath alone; run from source, process.execPath is
// bun and the entry script must follow it. A compiled binary's entry lives in Bun's embedded
// file system, whose paths start with "/$bunfs/" (on Windows "B:/~BUN/").

export function isCompiledBinary(entryPath: string = Bun.main): boolean {
  return entryPath.startsWith("/$bunfs/") || entryPath.startsWith("B:/~BUN/") || entryPath.startsWith("B:\\~BUN\\");
}

/** argv prefix that runs `ukv` again: [binary] or [bun, src/main.ts]. */
export function selfCommand(): string[] {
  return isCompiledBinary() ? [process.execPath] : [process.execPath, Bun.main];
}
