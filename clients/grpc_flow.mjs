// The guide's flow over the gRPC door from Node.js, with @grpc/grpc-js and @grpc/proto-loader
// reading proto/ at run time (no generated code): IssueToken, ListUsers, RefreshToken,
// ListUsers again, then ListUsers with a bad token, which must fail with UNAUTHENTICATED.
// Prints one JSON line per step (never a token) and exits non-zero when a step goes wrong.
//
// Usage: node clients/grpc_flow.mjs TARGET EMAIL PASSWORD
//   e.g. node clients/grpc_flow.mjs 127.0.0.1:50051 admin@example.com change-me-please
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [target, email, password] = process.argv.slice(2);
if (!target || !email || !password) {
  console.error("usage: node clients/grpc_flow.mjs TARGET EMAIL PASSWORD");
  process.exit(2);
}

// google/api/*.proto come from build/proto-include (`make stubs` lays it out);
// google/protobuf/*.proto are built into protobufjs.
const definition = protoLoader.loadSync("authgate/v1/auth.proto", {
  includeDirs: [path.join(ROOT, "proto"), path.join(ROOT, "build", "proto-include")],
  longs: String,
  enums: String,
  defaults: true,
});
const { AuthService } = grpc.loadPackageDefinition(definition).authgate.v1;
const client = new AuthService(target, grpc.credentials.createInsecure());

function call(method, request, access) {
  const metadata = new grpc.Metadata();
  if (access !== undefined) metadata.set("authorization", `Bearer ${access}`);
  const deadline = new Date(Date.now() + 10_000);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}

function report(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

async function listUsers(access) {
  const page = await call("ListUsers", { pageSize: 50 }, access);
  report("ListUsers", { users: page.users.map((user) => user.email) });
  return page;
}

async function main() {
  report("loaded", { methods: Object.keys(AuthService.service) });

  const pair = await call("IssueToken", { email, password });
  if (!pair.access || !pair.refresh) throw new Error("IssueToken returned no token pair");
  report("IssueToken", { accessLength: pair.access.length, refreshLength: pair.refresh.length });

  await listUsers(pair.access);

  const refreshed = await call("RefreshToken", { refresh: pair.refresh });
  if (!refreshed.access) throw new Error("RefreshToken returned no access token");
  report("RefreshToken", { accessLength: refreshed.access.length });

  await listUsers(refreshed.access);

  try {
    await call("ListUsers", {}, "not-a-token");
    throw new Error("ListUsers accepted a bad token");
  } catch (error) {
    if (error.code !== grpc.status.UNAUTHENTICATED) throw error;
    report("ListUsers with a bad token", { code: error.code, status: "UNAUTHENTICATED" });
  }
}

try {
  await main();
} catch (error) {
  console.error(`grpc flow failed: ${error.code ?? ""} ${error.message}`);
  process.exitCode = 1;
} finally {
  client.close();
}
