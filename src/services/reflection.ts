import {
  create,
  type DescFile,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection,
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { createReflectionIndex, type ReflectionIndex } from "./reflection-index.ts";

/**
 * gRPC server reflection (grpc.reflection.v1 and its deprecated twin
 * v1alpha), which Connect-ES does not ship. With it, `buf curl`, grpcurl and
 * Postman can list and call our services with no local copy of the protos.
 */
export interface ReflectionService {
  /** Serves ServerReflectionInfo of both versions on `router`. */
  register(router: ConnectRouter): void;
}

/**
 * Creates the reflection service over `files` (generated `file_*` exports);
 * their imports are found through `DescFile.dependencies`, and the reflection
 * protos themselves are always included.
 *
 * `serviceNames` is what list_services answers. It defaults to every service
 * declared in `files` plus both reflection services; pass it when `files`
 * declare services this server does not actually serve. Each name must be a
 * service in the index, so a typo fails at startup rather than in a client.
 */
export function createReflectionService(
  files: readonly DescFile[],
  serviceNames?: readonly string[],
): ReflectionService {
  const reflectionFiles = [
    file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ];
  const index = createReflectionIndex([...files, ...reflectionFiles]);
  const names =
    serviceNames ??
    [...files, ...reflectionFiles].flatMap((f) => f.services.map((s) => s.typeName));
  for (const name of names) {
    if (!index.fileContainingSymbol(name)?.services.some((s) => s.typeName === name)) {
      throw new Error(`reflection: "${name}" is not a service in the given files`);
    }
  }
  const listed = [...new Set(names)].sort().map((name) => ({ name }));

  async function* info(
    requests: AsyncIterable<ServerReflectionRequest>,
  ): AsyncGenerator<ServerReflectionResponse> {
    // Per stream, as grpc-go does: a file already sent is not sent again
    // as someone else's import.
    const sent = new Set<string>();
    for await (const request of requests) yield answer(index, listed, request, sent);
  }

  // The v1alpha messages are wire-identical to v1, so they are transcoded
  // through bytes and answered by the one implementation.
  async function* infoV1alpha(
    requests: AsyncIterable<v1alpha.ServerReflectionRequest>,
  ): AsyncGenerator<v1alpha.ServerReflectionResponse> {
    const sent = new Set<string>();
    for await (const alpha of requests) {
      const request = fromBinary(
        ServerReflectionRequestSchema,
        toBinary(v1alpha.ServerReflectionRequestSchema, alpha),
      );
      const response = answer(index, listed, request, sent);
      yield fromBinary(
        v1alpha.ServerReflectionResponseSchema,
        toBinary(ServerReflectionResponseSchema, response),
      );
    }
  }

  return {
    register(router) {
      router.service(ServerReflection, { serverReflectionInfo: info });
      router.service(v1alpha.ServerReflection, { serverReflectionInfo: infoV1alpha });
    },
  };
}

type MessageResponse = MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"];

/** Answers one request. Lookup misses are NOT_FOUND in the stream, as the spec has it. */
function answer(
  index: ReflectionIndex,
  services: readonly { name: string }[],
  request: ServerReflectionRequest,
  sent: Set<string>,
): ServerReflectionResponse {
  const notFound = (what: string): MessageResponse => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
  });
  const withImports = (file: DescFile | undefined, what: string): MessageResponse =>
    file === undefined
      ? notFound(what)
      : {
          case: "fileDescriptorResponse",
          value: { fileDescriptorProto: index.encodeWithImports(file, sent) },
        };

  let messageResponse: MessageResponse;
  const req = request.messageRequest;
  switch (req.case) {
    case "listServices":
      messageResponse = { case: "listServicesResponse", value: { service: [...services] } };
      break;
    case "fileByFilename":
      messageResponse = withImports(index.fileByName(req.value), `file "${req.value}"`);
      break;
    case "fileContainingSymbol":
      messageResponse = withImports(index.fileContainingSymbol(req.value), `symbol "${req.value}"`);
      break;
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = req.value;
      messageResponse = withImports(
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType}"`,
      );
      break;
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(req.value);
      messageResponse =
        numbers === undefined
          ? notFound(`message type "${req.value}"`)
          : {
              case: "allExtensionNumbersResponse",
              value: { baseTypeName: req.value, extensionNumber: numbers },
            };
      break;
    }
    default:
      // grpc-go fails the stream here too: the client sent nothing to answer.
      throw new ConnectError("reflection request sets no message_request", Code.InvalidArgument);
  }
  return create(ServerReflectionResponseSchema, {
    validHost: request.host,
    originalRequest: request,
    messageResponse,
  });
}
