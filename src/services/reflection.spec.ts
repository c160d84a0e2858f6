import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  createFileRegistry,
  type DescFile,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { file_chat_v1_chat } from "../gen/chat/v1/chat_pb.ts";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.ts";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { createReflectionService } from "./reflection.ts";

/** A proto2 file with an extension, built at runtime: our own protos declare none. */
function extensionFile(): DescFile {
  const proto = create(FileDescriptorProtoSchema, {
    name: "test/ext.proto",
    package: "test",
    syntax: "proto2",
    messageType: [{ name: "Base", extensionRange: [{ start: 100, end: 200 }] }],
    extension: [
      { name: "tag", number: 100, label: 1, type: 9, extendee: ".test.Base", jsonName: "tag" },
    ],
  });
  const file = createFileRegistry(proto, () => undefined).getFile("test/ext.proto");
  assert.ok(file);
  return file;
}

const files = [file_chat_v1_chat, file_grpc_health_v1_health, extensionFile()];

type Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>["messageRequest"];
type Response = v1.ServerReflectionResponse["messageResponse"];

/** Sends `requests` on one stream and returns the answers, v1 or v1alpha. */
async function reflect(version: "v1" | "v1alpha", requests: Request[]): Promise<Response[]> {
  const reflection = createReflectionService(files);
  const transport = createRouterTransport((router) => reflection.register(router));
  async function* input() {
    for (const messageRequest of requests) yield { host: "h", messageRequest };
  }
  const out: Response[] = [];
  if (version === "v1") {
    for await (const res of createClient(v1.ServerReflection, transport).serverReflectionInfo(
      input(),
    )) {
      assert.equal(res.validHost, "h");
      out.push(res.messageResponse);
    }
    return out;
  }
  const alpha = input() as AsyncIterable<
    MessageInitShape<typeof v1alpha.ServerReflectionRequestSchema>
  >;
  for await (const res of createClient(v1alpha.ServerReflection, transport).serverReflectionInfo(
    alpha,
  )) {
    assert.equal(res.validHost, "h");
    // Wire-identical: read the v1alpha answer as v1 so both versions share the assertions.
    const bytes = toBinary(v1alpha.ServerReflectionResponseSchema, res);
    out.push(fromBinary(v1.ServerReflectionResponseSchema, bytes).messageResponse);
  }
  return out;
}

function fileNames(res: Response | undefined): string[] {
  assert.equal(res?.case, "fileDescriptorResponse");
  return res.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
}

function errorCode(res: Response | undefined): number {
  assert.equal(res?.case, "errorResponse");
  return res.value.errorCode;
}

for (const version of ["v1", "v1alpha"] as const) {
  describe(`reflection ${version}`, () => {
    it("lists the services of the given files and reflection itself", async () => {
      const [res] = await reflect(version, [{ case: "listServices", value: "" }]);
      assert.equal(res?.case, "listServicesResponse");
      assert.deepEqual(
        res.value.service.map((s) => s.name),
        [
          "chat.v1.ChatService",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ],
      );
    });

    it("sends a file with its imports, each file once per stream", async () => {
      const [byName, bySymbol, again] = await reflect(version, [
        { case: "fileByFilename", value: "chat/v1/chat.proto" },
        { case: "fileContainingSymbol", value: "chat.v1.Message" },
        { case: "fileByFilename", value: "google/protobuf/timestamp.proto" },
      ]);
      assert.deepEqual(fileNames(byName), [
        "chat/v1/chat.proto",
        "buf/validate/validate.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/descriptor.proto",
      ]);
      assert.deepEqual(fileNames(bySymbol), ["chat/v1/chat.proto"]);
      assert.deepEqual(fileNames(again), ["google/protobuf/timestamp.proto"]);
    });

    it("sends descriptors a client can rebuild a schema from", async () => {
      const [res] = await reflect(version, [
        { case: "fileContainingSymbol", value: "chat.v1.ChatService" },
      ]);
      assert.equal(res?.case, "fileDescriptorResponse");
      const file: FileDescriptorProto[] = res.value.fileDescriptorProto.map((b) =>
        fromBinary(FileDescriptorProtoSchema, b),
      );
      // Answers put the asked-for file first (as grpc-go does), not in import order.
      const [chat, ...imports] = file;
      assert.ok(chat);
      const registry = createFileRegistry(chat, (name) => imports.find((f) => f.name === name));
      const sentAt = registry.getMessage("chat.v1.Message")?.field.sentAt;
      assert.equal(sentAt?.proto.jsonName, "sentAt");
      assert.equal(registry.getService("chat.v1.ChatService")?.methods.length, 6);
    });

    it("finds the file of every kind of symbol", async () => {
      const fileOf: [symbol: string, file: string][] = [
        ["chat.v1.ChatService.Send", "chat/v1/chat.proto"],
        ["chat.v1.SendRequest.room", "chat/v1/chat.proto"],
        ["chat.v1.Event.kind", "chat/v1/chat.proto"],
        ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
        ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
        ["grpc.health.v1.HealthListResponse.StatusesEntry", "grpc/health/v1/health.proto"],
        ["test.tag", "test/ext.proto"],
      ];
      const answers = await reflect(
        version,
        fileOf.map(([value]) => ({ case: "fileContainingSymbol", value })),
      );
      assert.deepEqual(
        answers.map((res) => fileNames(res)[0]),
        fileOf.map(([, file]) => file),
      );
    });

    it("answers extension queries", async () => {
      const [file, numbers, none] = await reflect(version, [
        {
          case: "fileContainingExtension",
          value: { containingType: "test.Base", extensionNumber: 100 },
        },
        { case: "allExtensionNumbersOfType", value: "test.Base" },
        { case: "allExtensionNumbersOfType", value: "chat.v1.Message" },
      ]);
      assert.deepEqual(fileNames(file), ["test/ext.proto"]);
      assert.deepEqual(
        numbers?.value,
        create(v1.ExtensionNumberResponseSchema, {
          baseTypeName: "test.Base",
          extensionNumber: [100],
        }),
      );
      assert.equal(none?.case, "allExtensionNumbersResponse");
      assert.deepEqual(none.value.extensionNumber, []);
    });

    it("answers unknown names with NOT_FOUND in the stream and keeps going", async () => {
      const answers = await reflect(version, [
        { case: "fileByFilename", value: "nope.proto" },
        { case: "fileContainingSymbol", value: "chat.v1.Nope" },
        {
          case: "fileContainingExtension",
          value: { containingType: "test.Base", extensionNumber: 101 },
        },
        { case: "allExtensionNumbersOfType", value: "chat.v1.Nope" },
        { case: "listServices", value: "" },
      ]);
      assert.deepEqual(answers.slice(0, 4).map(errorCode), [
        Code.NotFound,
        Code.NotFound,
        Code.NotFound,
        Code.NotFound,
      ]);
      assert.equal(answers[4]?.case, "listServicesResponse");
    });
  });
}

describe("createReflectionService", () => {
  it("refuses to list a service it cannot describe", () => {
    assert.throws(() => createReflectionService(files, ["chat.v1.Nope"]), /chat\.v1\.Nope/);
    assert.throws(() => createReflectionService(files, ["chat.v1.Message"]), /chat\.v1\.Message/);
  });
});
