// Generates src/proto/*.ts from proto/*.proto: for every message an interface of plain TypeScript
// values, an empty value, and a size / write / read / encode / decode quartet; for every enum a
// TypeScript enum with the same numbers. protobufjs only parses the .proto files here, at build
// time; the output is static code (no reflection, no .proto read at run time), so it works inside
// `bun build --compile`. The wire runtime (scripts/proto-wire.ts) is copied beside the output.
// Run: `bun run scripts/gen-proto.ts` (npm run gen-proto; npm run build does it first).
// Supported: proto3 scalars uint32, uint64, bool, bytes, string; enums; nested messages; repeated
// fields (numbers packed). Anything else fails the build with a message, never silently.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Enum, Field, Namespace, Type, parse } from "protobufjs";

const rootDir = resolve(import.meta.dir, "..");
const protoDir = join(rootDir, "proto");
const outDir = join(rootDir, "src/proto");
const wireRuntimePath = join(rootDir, "scripts/proto-wire.ts");

const wireTypeVarint = 0;
const wireTypeLengthDelimited = 2;

type FieldKind = "number" | "bool" | "bytes" | "string" | "enum" | "message";

interface FieldPlan {
  name: string;
  id: number;
  kind: FieldKind;
  repeated: boolean;
  /** TypeScript type of one element. */
  elementType: string;
  /** Name of the message or enum type, for messages and enums. */
  typeName: string;
  /** Zero value, as TypeScript source (for enums, the member whose number is 0). */
  zero: string;
}

function fail(message: string): never {
  throw new Error(`gen-proto: ${message}`);
}

function varintSize(value: number): number {
  let size = 1;
  let rest = value;
  while (rest > 0x7f) {
    rest = Math.floor(rest / 0x80);
    size++;
  }
  return size;
}

function tagValue(id: number, wireType: number): number {
  return id * 8 + wireType;
}

function planField(typeName: string, field: Field): FieldPlan {
  const where = `${typeName}.${field.name}`;
  if (field.map) fail(`${where}: map fields are not supported`);
  if (field.partOf !== null && field.partOf !== undefined) fail(`${where}: oneof is not supported`);
  const base = { name: field.name, id: field.id, repeated: field.repeated, typeName: "" };
  switch (field.type) {
    case "uint32":
    case "uint64":
      return { ...base, kind: "number", elementType: "number", zero: "0" };
    case "bool":
      return { ...base, kind: "bool", elementType: "boolean", zero: "false" };
    case "bytes":
      return { ...base, kind: "bytes", elementType: "Uint8Array", zero: "emptyBytes" };
    case "string":
      return { ...base, kind: "string", elementType: "string", zero: '""' };
    default:
      break;
  }
  const resolved = field.resolvedType;
  if (resolved instanceof Enum) {
    const zeroEntry = Object.entries(resolved.values).find(([, value]) => value === 0);
    if (zeroEntry === undefined) fail(`${where}: enum ${resolved.name} has no zero value`);
    return { ...base, kind: "enum", elementType: resolved.name, typeName: resolved.name, zero: `${resolved.name}.${zeroEntry[0]}` };
  }
  if (resolved instanceof Type) {
    return { ...base, kind: "message", elementType: resolved.name, typeName: resolved.name, zero: "null" };
  }
  return fail(`${where}: type ${field.type} is not supported`);
}

function tsFieldType(plan: FieldPlan): string {
  if (plan.repeated) return `${plan.elementType}[]`;
  return plan.kind === "message" ? `${plan.elementType} | null` : plan.elementType;
}

function emitEnum(lines: string[], enumType: Enum): void {
  lines.push(`export enum ${enumType.name} {`);
  for (const [name, value] of Object.entries(enumType.values)) lines.push(`  ${name} = ${value},`);
  lines.push("}", "");
}

function emitInterface(lines: string[], name: string, plans: FieldPlan[]): void {
  lines.push(`export interface ${name} {`);
  for (const plan of plans) lines.push(`  ${plan.name}: ${tsFieldType(plan)};`);
  lines.push("}", "");
  lines.push(`export function empty${name}(): ${name} {`);
  const values = plans.map((plan) => `${plan.name}: ${plan.repeated ? "[]" : plan.zero}`);
  lines.push(`  return { ${values.join(", ")} };`, "}", "");
}

/** Size contribution of one present field, as statements adding to `size`; `value` is its source. */
function sizeOfValue(plan: FieldPlan, value: string, tagSize: number): string[] {
  switch (plan.kind) {
    case "number":
    case "enum":
      return [`size += ${tagSize} + varintSize(${value});`];
    case "bool":
      return [`size += ${tagSize + 1};`];
    case "bytes":
      return [`size += ${tagSize} + varintSize(${value}.byteLength) + ${value}.byteLength;`];
    case "string":
      return [`{ const length = utf8Length(${value}); size += ${tagSize} + varintSize(length) + length; }`];
    case "message":
      return [`{ const length = size${plan.typeName}(${value}); size += ${tagSize} + varintSize(length) + length; }`];
  }
}

function writeOfValue(plan: FieldPlan, value: string, tag: number): string[] {
  switch (plan.kind) {
    case "number":
    case "enum":
      return [`w.varint(${tag});`, `w.varint(${value});`];
    case "bool":
      return [`w.varint(${tag});`, `w.bool(${value});`];
    case "bytes":
      return [`w.varint(${tag});`, `w.lengthDelimited(${value});`];
    case "string":
      return [`w.varint(${tag});`, `w.string(${value}, utf8Length(${value}));`];
    case "message":
      return [`w.varint(${tag});`, `w.varint(size${plan.typeName}(${value}));`, `write${plan.typeName}(w, ${value});`];
  }
}

function presentCondition(plan: FieldPlan, value: string): string {
  switch (plan.kind) {
    case "number":
    case "enum":
      return `${value} !== 0`;
    case "bool":
      return value;
    case "bytes":
      return `${value}.byteLength !== 0`;
    case "string":
      return `${value} !== ""`;
    case "message":
      return `${value} !== null`;
  }
}

function isPacked(plan: FieldPlan): boolean {
  return plan.repeated && (plan.kind === "number" || plan.kind === "enum" || plan.kind === "bool");
}

function emitSize(lines: string[], name: string, plans: FieldPlan[]): void {
  lines.push(`export function size${name}(m: ${name}): number {`, "  let size = 0;");
  for (const plan of plans) {
    const field = `m.${plan.name}`;
    if (isPacked(plan)) {
      const tagSize = varintSize(tagValue(plan.id, wireTypeLengthDelimited));
      const element = plan.kind === "bool" ? "1" : "varintSize(value)";
      lines.push(`  if (${field}.length !== 0) {`, "    let length = 0;");
      lines.push(`    for (const value of ${field}) length += ${element};`);
      lines.push(`    size += ${tagSize} + varintSize(length) + length;`, "  }");
    } else if (plan.repeated) {
      const wireType = wireTypeLengthDelimited;
      lines.push(`  for (const value of ${field}) {`);
      for (const line of sizeOfValue(plan, "value", varintSize(tagValue(plan.id, wireType)))) lines.push(`    ${line}`);
      lines.push("  }");
    } else {
      const wireType = plan.kind === "number" || plan.kind === "enum" || plan.kind === "bool" ? wireTypeVarint : wireTypeLengthDelimited;
      lines.push(`  if (${presentCondition(plan, field)}) {`);
      for (const line of sizeOfValue(plan, field, varintSize(tagValue(plan.id, wireType)))) lines.push(`    ${line}`);
      lines.push("  }");
    }
  }
  lines.push("  return size;", "}", "");
}

function emitWrite(lines: string[], name: string, plans: FieldPlan[]): void {
  lines.push(`export function write${name}(w: ProtoWriter, m: ${name}): void {`);
  for (const plan of plans) {
    const field = `m.${plan.name}`;
    if (isPacked(plan)) {
      const element = plan.kind === "bool" ? "1" : "varintSize(value)";
      const writeElement = plan.kind === "bool" ? "w.bool(value);" : "w.varint(value);";
      lines.push(`  if (${field}.length !== 0) {`, "    let length = 0;");
      lines.push(`    for (const value of ${field}) length += ${element};`);
      lines.push(`    w.varint(${tagValue(plan.id, wireTypeLengthDelimited)});`, "    w.varint(length);");
      lines.push(`    for (const value of ${field}) ${writeElement}`, "  }");
    } else if (plan.repeated) {
      lines.push(`  for (const value of ${field}) {`);
      for (const line of writeOfValue(plan, "value", tagValue(plan.id, wireTypeLengthDelimited))) lines.push(`    ${line}`);
      lines.push("  }");
    } else {
      const wireType = plan.kind === "number" || plan.kind === "enum" || plan.kind === "bool" ? wireTypeVarint : wireTypeLengthDelimited;
      lines.push(`  if (${presentCondition(plan, field)}) {`);
      for (const line of writeOfValue(plan, field, tagValue(plan.id, wireType))) lines.push(`    ${line}`);
      lines.push("  }");
    }
  }
  lines.push("}", "");
}

/** Source reading one element of the field's kind (the wire type was already checked). */
function readOfValue(plan: FieldPlan, end: string): string {
  switch (plan.kind) {
    case "number":
      return `r.varint(${end})`;
    case "enum":
      return `r.varint(${end}) as ${plan.typeName}`;
    case "bool":
      return `r.bool(${end})`;
    case "bytes":
      return `r.lengthDelimited(${end})`;
    case "string":
      return `r.string(${end})`;
    case "message":
      return `read${plan.typeName}(r, r.lengthEnd(${end}))`;
  }
}

function emitRead(lines: string[], name: string, plans: FieldPlan[]): void {
  lines.push(`export function read${name}(r: ProtoReader, end: number): ${name} {`);
  lines.push(`  const m = empty${name}();`, "  while (r.pos < end) {", "    const tag = r.tag(end);");
  lines.push("    const wireType = tag & 7;", "    switch (tag >>> 3) {");
  for (const plan of plans) {
    lines.push(`      case ${plan.id}:`);
    const field = `m.${plan.name}`;
    const wrong = `throw wrongWireType("${name}", "${plan.name}", wireType);`;
    if (isPacked(plan)) {
      lines.push(`        if (wireType === ${wireTypeLengthDelimited}) {`);
      lines.push("          const fieldEnd = r.lengthEnd(end);");
      lines.push(`          while (r.pos < fieldEnd) ${field}.push(${readOfValue(plan, "fieldEnd")});`);
      lines.push(`        } else if (wireType === ${wireTypeVarint}) ${field}.push(${readOfValue(plan, "end")});`);
      lines.push(`        else ${wrong}`);
    } else {
      const expected = plan.kind === "number" || plan.kind === "enum" || plan.kind === "bool" ? wireTypeVarint : wireTypeLengthDelimited;
      lines.push(`        if (wireType !== ${expected}) ${wrong}`);
      if (plan.repeated) lines.push(`        ${field}.push(${readOfValue(plan, "end")});`);
      else lines.push(`        ${field} = ${readOfValue(plan, "end")};`);
    }
    lines.push("        break;");
  }
  lines.push("      default:", "        r.skip(wireType, end);", "    }", "  }", "  return m;", "}", "");
}

function emitCodec(lines: string[], name: string): void {
  lines.push(`/** Encodes into a new buffer; \`headroomBytes\` are left free at the front (for a frame header). */`);
  lines.push(`export function encode${name}(m: ${name}, headroomBytes = 0): Uint8Array {`);
  lines.push(`  const w = new ProtoWriter(headroomBytes + size${name}(m));`, "  w.pos = headroomBytes;");
  lines.push(`  write${name}(w, m);`);
  lines.push(`  if (w.pos !== w.bytes.byteLength) throw new Error("Assertion failed: ${name} wrote its computed size");`);
  lines.push("  return w.bytes;", "}", "");
  lines.push(`/** Decodes; bytes fields are views into \`bytes\`. Throws ProtoDecodeError on malformed input. */`);
  lines.push(`export function decode${name}(bytes: Uint8Array): ${name} {`);
  lines.push(`  return read${name}(new ProtoReader(bytes), bytes.byteLength);`, "}", "");
}

function collectTypes(namespace: Namespace, enums: Enum[], messages: Type[]): void {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof Enum) enums.push(nested);
    else if (nested instanceof Type) {
      if (nested.nestedArray.length > 0) fail(`${nested.name}: nested declarations are not supported`);
      messages.push(nested);
    } else if (nested instanceof Namespace) collectTypes(nested, enums, messages);
  }
}

/** The TypeScript module for one .proto source; throws on anything the generator does not support. */
export function generateFile(protoSource: string, protoName: string): string {
  const { root } = parse(protoSource, { keepCase: false });
  root.resolveAll();
  const enums: Enum[] = [];
  const messages: Type[] = [];
  collectTypes(root, enums, messages);
  const lines: string[] = [
    `// GENERATED by scripts/gen-proto.ts from proto/${protoName}. Do not edit: change the .proto and rebuild.`,
    "/* eslint-disable */",
    'import { ProtoReader, ProtoWriter, utf8Length, varintSize, wrongWireType } from "./wire.ts";',
    "",
    "const emptyBytes = new Uint8Array(0);",
    "",
  ];
  for (const enumType of enums) emitEnum(lines, enumType);
  for (const message of messages) {
    const plans = message.fieldsArray.map((field) => planField(message.name, field));
    emitInterface(lines, message.name, plans);
    emitSize(lines, message.name, plans);
    emitWrite(lines, message.name, plans);
    emitRead(lines, message.name, plans);
    emitCodec(lines, message.name);
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** Every output file (path relative to src/proto/ -> contents) for the .proto files in proto/. */
export function generateAll(): Map<string, string> {
  const outputs = new Map<string, string>();
  const wire = readFileSync(wireRuntimePath, "utf8");
  outputs.set("wire.ts", `// GENERATED: copied from scripts/proto-wire.ts by scripts/gen-proto.ts. Do not edit.\n${wire}`);
  const protoFiles = readdirSync(protoDir).filter((name) => name.endsWith(".proto")).sort();
  if (protoFiles.length === 0) fail(`no .proto files in ${protoDir}`);
  for (const name of protoFiles) {
    outputs.set(`${basename(name, ".proto")}.ts`, generateFile(readFileSync(join(protoDir, name), "utf8"), name));
  }
  return outputs;
}

export const generatedDir = outDir;

if (import.meta.main) {
  mkdirSync(outDir, { recursive: true });
  for (const [name, contents] of generateAll()) {
    writeFileSync(join(outDir, name), contents);
    process.stdout.write(`gen-proto: ${name} -> ${join(outDir, name)}\n`);
  }
}
