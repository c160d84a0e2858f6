import { messageStoreContract } from "../core/message-store.case.ts";
import { createMemoryStore } from "./memory-store.ts";

messageStoreContract("memory", async (options) => createMemoryStore(options));
