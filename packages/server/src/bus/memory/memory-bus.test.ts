// Runs the Bus contract against MemoryBus. It is single-process, so both "nodes" are the same instance.
import { defineBusContract } from "../contract/bus-contract.js";
import { MemoryBus } from "./memory-bus.js";

defineBusContract("MemoryBus", async () => {
  const bus = new MemoryBus();
  return { buses: [bus, bus], cleanup: () => bus.close() };
});
