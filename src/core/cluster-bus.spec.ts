import { clusterBusContract } from "./cluster-bus.case.ts";
import { createLocalClusterHub } from "./cluster-bus.ts";

clusterBusContract("in-process hub", async () => createLocalClusterHub());
