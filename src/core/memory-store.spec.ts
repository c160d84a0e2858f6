import { createMemoryStore } from "./memory-store.ts";
import { messageStoreContract } from "./message-store.case.ts";

messageStoreContract("memory", async (options) => createMemoryStore(options));
