// SPDX-License-Identifier: MIT
// Every document of a manifest file validated against the Kubernetes OpenAPI schema that
// kubernetes-models carries: node validate.mjs FILE. Exits 1 on any invalid document or kind
// it does not know.
import fs from "node:fs";
import * as yaml from "js-yaml";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Namespace, ServiceAccount, Service } from "kubernetes-models/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
const kinds = { DaemonSet, Namespace, ServiceAccount, Service, NetworkPolicy };
let bad = 0;
for (const doc of yaml.loadAll(fs.readFileSync(process.argv[2], "utf8"))) {
  if (!doc) continue;
  const K = kinds[doc.kind];
  if (!K) { console.log(`unknown kind ${doc.kind}`); bad++; continue; }
  try { new K(doc).validate(); console.log(`ok ${doc.kind}/${doc.metadata.name}`); }
  catch (e) { console.log(`invalid ${doc.kind}: ${e.message}`); bad++; }
}
process.exit(bad ? 1 : 0);
