/**
 * `npm run docs:config`: writes docs/configuration.md from the options declared in
 * src/config.ts. A spec fails when the file is stale, so it is never edited by hand.
 */
import { writeFileSync } from "node:fs";
import { configurationDoc, configurationDocFile } from "../config.ts";

writeFileSync(configurationDocFile, configurationDoc());
