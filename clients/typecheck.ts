// Compile-time checks of the generated TypeScript (never run): `tsc -p clients` type-checks
// this file against build/clients/ts (tests/test_generated_clients.py; `make stubs` makes it).
import { create } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { components, paths } from "../build/clients/ts/openapi";
import type * as pb from "../build/clients/ts/proto/authgate/v1/auth_pb";
import { IssueTokenRequestSchema } from "../build/clients/ts/proto/authgate/v1/auth_pb";

type Schemas = components["schemas"];

// Every OpenAPI schema named like a proto message carries that message's JSON fields: the
// protobuf JSON mapping, json_name included (protobuf-ES's json_types), whatever messages the
// proto holds.
type JsonOf<K extends string> = `${K}Schema` extends keyof typeof pb
  ? (typeof pb)[`${K}Schema`] extends GenMessage<infer _M, { jsonType: infer J }>
    ? J
    : never
  : never;
// google.api.http binds these fields to the path, so the body schema leaves them out.
type PathBound = { UpdateUserRequest: "id" };
type BodyOf<K extends string> = K extends keyof PathBound
  ? Omit<JsonOf<K>, PathBound[K]>
  : JsonOf<K>;
type Disagrees<K extends keyof Schemas & string> = [JsonOf<K>] extends [never]
  ? never
  : [keyof BodyOf<K>] extends [keyof Schemas[K]]
    ? [keyof Schemas[K]] extends [keyof BodyOf<K>]
      ? never
      : K
    : K;
type Disagreements = { [K in keyof Schemas & string]: Disagrees<K> }[keyof Schemas & string];
export const schemasAgree: [Disagreements] extends [never] ? true : Disagreements = true;

// The guide's first step, typed both ways: the REST body is the gRPC message's JSON.
type IssueTokenBody = paths["/api/v1/token/"]["post"]["requestBody"]["content"]["application/json"];
const body: IssueTokenBody = { email: "admin@example.com", password: "change-me-please" };
export const message = create(IssueTokenRequestSchema, body);
type UsersPage = paths["/api/v1/users/"]["get"]["responses"][200]["content"]["application/json"];
export const emails = (page: UsersPage): string[] => page.users.map((user) => user.email);
