// Compiles contracts/*.sol with the pinned npm `solc` (standard JSON, evmVersion cancun) and
// writes contracts/build/<Name>.json with abi, bytecode and deployedBytecode; the attacker
// contracts the tests use (contracts/attackers/*.sol) go to contracts/build/attackers/.
// Usage: node contracts/scripts/compile.mjs [--check]   (--check: exit 1 if build/ is stale)
import { readFileSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const require = createRequire(join(root, "package.json"));
const solc = require("solc");

const sources = {};
for (const name of readdirSync(root).filter((f) => f.endsWith(".sol")).sort()) {
  sources[name] = { content: readFileSync(join(root, name), "utf8") };
}
for (const name of readdirSync(join(root, "attackers")).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`attackers/${name}`] = { content: readFileSync(join(root, "attackers", name), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    viaIR: true,
    optimizer: { enabled: true, runs: 1000 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const check = process.argv.includes("--check");
const buildDir = join(root, "build");
mkdirSync(join(buildDir, "attackers"), { recursive: true });
let stale = false;
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (name !== file.replace(/^.*\//, "").replace(/\.sol$/, "")) continue;
    const artifact = {
      contractName: name,
      sourceName: file,
      compiler: { solc: solc.version(), evmVersion: input.settings.evmVersion },
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const path = join(buildDir, file.replace(/\.sol$/, ".json"));
    let old = null;
    try { old = readFileSync(path, "utf8"); } catch {}
    if (check) {
      if (old !== text) { console.error(`stale artifact: ${path}`); stale = true; }
    } else if (old !== text) {
      writeFileSync(path, text);
      console.log(`wrote ${file.replace(/\.sol$/, ".json")} (${c.evm.deployedBytecode.object.length / 2} bytes deployed)`);
    } else {
      console.log(`unchanged ${file.replace(/\.sol$/, ".json")}`);
    }
  }
}
process.exit(stale ? 1 : 0);
