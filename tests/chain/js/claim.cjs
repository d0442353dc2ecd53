// Claim a reward with ethers, using only the published artefacts.
//
//   node claim.cjs --rpc URL --artifact RewardDistributor.json --distributor 0x... --dump tree.json
//
// The claimant's private key is read from the environment variable CLAIMANT_PRIVATE_KEY
// (the test generates one per run; no key is ever written in a file or passed on the
// command line). Modules come from the project's tools/ directory: run with
// NODE_PATH=<repo>/tools/node_modules.
//
// Steps: load the Merkle tree with @openzeppelin/merkle-tree's StandardMerkleTree.load (which
// validates every node), check that StandardMerkleTree.of over the same values dumps exactly
// the same document, find the claimant's leaf, take its proof, and send
// RewardDistributor.claim(account, cumulativeAmount, proof) with ethers from the claimant's
// account, through a contract built from the artefact's ABI. Prints one JSON object.
"use strict";

const fs = require("node:fs");
const { isDeepStrictEqual } = require("node:util");
const { ethers } = require("ethers");
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`bad argument ${key}`);
    }
    args[key.slice(2)] = argv[i + 1];
  }
  for (const required of ["rpc", "artifact", "distributor", "dump"]) {
    if (!(required in args)) throw new Error(`missing --${required}`);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const key = process.env.CLAIMANT_PRIVATE_KEY;
  if (!key) throw new Error("CLAIMANT_PRIVATE_KEY is not set");

  const artifact = JSON.parse(fs.readFileSync(args.artifact, "utf8"));
  if (artifact.format !== "contract_artifact_v1" || artifact.contractName !== "RewardDistributor") {
    throw new Error(`${args.artifact} is not the RewardDistributor artefact`);
  }
  const dump = JSON.parse(fs.readFileSync(args.dump, "utf8"));
  const tree = StandardMerkleTree.load(dump);
  const rebuilt = StandardMerkleTree.of(
    dump.values.map((v) => v.value),
    dump.leafEncoding,
  );

  const provider = new ethers.JsonRpcProvider(args.rpc);
  const wallet = new ethers.Wallet(key, provider);
  let index = -1;
  for (const [i, [account]] of tree.entries()) {
    if (account.toLowerCase() === wallet.address.toLowerCase()) index = i;
  }
  if (index < 0) throw new Error(`${wallet.address} has no leaf in the tree`);
  const [account, amount] = tree.at(index);
  const proof = tree.getProof(index);

  const distributor = new ethers.Contract(args.distributor, artifact.abi, wallet);
  const onChainRoot = await distributor.latest_root();
  const tx = await distributor.claim(account, amount, proof);
  const receipt = await tx.wait();
  const claimed = await distributor.claimed(account);

  process.stdout.write(
    JSON.stringify({
      account,
      amount: String(amount),
      proof,
      treeRoot: tree.root,
      onChainRoot,
      ofDumpEqual: isDeepStrictEqual(rebuilt.dump(), dump),
      txHash: receipt.hash,
      status: receipt.status,
      gasUsed: receipt.gasUsed.toString(),
      claimed: claimed.toString(),
    }) + "\n",
  );
  // ethers keeps the provider's polling alive; end explicitly.
  provider.destroy();
}

main().catch((err) => {
  process.stderr.write(`claim.cjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
