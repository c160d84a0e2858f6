import type { DescEnum, DescFile, DescMessage } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * Lookups that server reflection needs over a closed set of proto files: by
 * file name, by fully-qualified symbol, by extension. Built once at startup
 * from generated `DescFile`s and their transitive imports, so a reflection
 * client can resolve every type a served method mentions.
 */
export interface ReflectionIndex {
  /** The file with this path, e.g. "chat/v1/chat.proto". */
  fileByName(name: string): DescFile | undefined;
  /**
   * The file declaring a fully-qualified name: package-qualified service,
   * method, message (nested too), field, oneof, enum, enum value or extension.
   */
  fileContainingSymbol(name: string): DescFile | undefined;
  /** The file declaring extension `number` of message `extendee`. */
  fileContainingExtension(extendee: string, number: number): DescFile | undefined;
  /** Numbers of the known extensions of `extendee`; undefined if the type is unknown. */
  extensionNumbers(extendee: string): number[] | undefined;
  /**
   * Serialized FileDescriptorProtos for `file` and, breadth first, its
   * imports. `file` itself is always included; an import only if `skip` does
   * not hold its name yet. Every name returned is added to `skip`.
   */
  encodeWithImports(file: DescFile, skip: Set<string>): Uint8Array[];
}

/** Indexes `roots` and everything they import; a file name seen twice keeps the first. */
export function createReflectionIndex(roots: readonly DescFile[]): ReflectionIndex {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const messages = new Set<string>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const encoded = new Map<string, Uint8Array>();

  function addMessage(message: DescMessage): void {
    bySymbol.set(message.typeName, message.file);
    messages.add(message.typeName);
    for (const member of message.members) {
      bySymbol.set(`${message.typeName}.${member.name}`, message.file);
    }
    // Map entries are hidden from nestedMessages but are symbols all the same.
    for (const nested of message.proto.nestedType) {
      if (nested.options?.mapEntry) {
        bySymbol.set(`${message.typeName}.${nested.name}`, message.file);
      }
    }
    message.nestedMessages.forEach(addMessage);
    message.nestedEnums.forEach(addEnum);
  }

  function addEnum(desc: DescEnum): void {
    bySymbol.set(desc.typeName, desc.file);
    // Enum values are scoped like C++ enumerators: siblings of their enum.
    const scope = desc.parent?.typeName ?? desc.file.proto.package;
    for (const value of desc.values) {
      bySymbol.set(scope === "" ? value.name : `${scope}.${value.name}`, desc.file);
    }
  }

  function addFile(file: DescFile): void {
    // DescFile.name drops ".proto"; reflection speaks in full paths.
    const path = file.proto.name;
    if (byName.has(path)) return;
    byName.set(path, file);
    file.dependencies.forEach(addFile);
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    for (const service of file.services) {
      bySymbol.set(service.typeName, file);
      for (const method of service.methods) {
        bySymbol.set(`${service.typeName}.${method.name}`, file);
      }
    }
  }

  function addExtensions(file: DescFile): void {
    const all = [...file.extensions];
    const visit = (message: DescMessage): void => {
      all.push(...message.nestedExtensions);
      message.nestedMessages.forEach(visit);
    };
    file.messages.forEach(visit);
    for (const ext of all) {
      bySymbol.set(ext.typeName, file);
      let numbers = extensions.get(ext.extendee.typeName);
      if (numbers === undefined) {
        numbers = new Map();
        extensions.set(ext.extendee.typeName, numbers);
      }
      numbers.set(ext.number, file);
    }
  }

  roots.forEach(addFile);
  byName.forEach(addExtensions);

  function encode(file: DescFile): Uint8Array {
    let bytes = encoded.get(file.proto.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.proto.name, bytes);
    }
    return bytes;
  }

  return {
    fileByName: (name) => byName.get(name),
    fileContainingSymbol: (name) => bySymbol.get(name),
    fileContainingExtension: (extendee, number) => extensions.get(extendee)?.get(number),
    extensionNumbers(extendee) {
      const numbers = extensions.get(extendee);
      if (numbers !== undefined) return [...numbers.keys()];
      return messages.has(extendee) ? [] : undefined;
    },
    encodeWithImports(file, skip) {
      const out: Uint8Array[] = [];
      const queue = [file];
      const seen = new Set<string>();
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const path = next.proto.name;
        if (seen.has(path)) continue;
        seen.add(path);
        if (out.length === 0 || !skip.has(path)) {
          skip.add(path);
          out.push(encode(next));
        }
        queue.push(...next.dependencies);
      }
      return out;
    },
  };
}
