#!/usr/bin/env node
// validate.mjs - checks the rendered Kubernetes manifests of tix, offline.
//
// Usage: node validate.mjs [--source DIR] [--external-secrets FILE] [--with FILE]... RENDERED.yaml
//        node validate.mjs --same A.yaml B.yaml
//
//   RENDERED.yaml           the output of `kubectl kustomize OVERLAY`
//   --source DIR            the repository root: which TIX_* variables each
//                           program reads is taken from its sources there
//   --external-secrets F    Secrets the overlay uses but does not render
//                           (lines "name key key ..."), e.g. production's
//   --with FILE             more objects applied with the overlay: the
//                           Prometheus operator's (deploy/k8s/monitoring),
//                           checked by hand (no kubernetes-models schema)
//                           and against the overlay's Services
//
// Two groups of checks, each printed as "ok" or "FAIL" lines:
//   schema   every object against the Kubernetes 1.27 OpenAPI schemas
//            (npm kubernetes-models@4), plus unknown fields, which those
//            schemas let through: any field the schema validator never
//            looked at is reported
//   project  what schemas cannot know: probes, requests and limits, the
//            non-root read-only securityContext, every TIX_* variable each
//            program needs set (through env, envFrom and $(VAR) expansion),
//            endpoints that point at real Services and ports, Secrets and
//            ConfigMaps that exist, PDB/HPA/Service selectors that select,
//            CURVE on for every tix program with its keys from Secrets,
//            and the NetworkPolicy matrix of docs/DEPLOY.md
// --same compares two renderings of one overlay (kubectl's kustomize v5 and
// Debian's kubectl 1.20 with kustomize v2.0.3): the same objects with the
// same content, once generated names lose their hash suffix (the versions
// hash differently) and empty annotations/labels are dropped.
//
// Exit status: 0 all passed; otherwise 1 (schema failures) | 2 (project
// failures); 4 on a usage or input error. Needs Node 20 and the npm packages
// installed by check.sh into .tools/ (or TIX_K8S_TOOLS).
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = process.env.TIX_K8S_TOOLS || path.join(here, ".tools");
const requireTool = createRequire(path.join(tools, "package.json"));
const yaml = requireTool("js-yaml");

// ---- arguments ---------------------------------------------------------------

function usage(msg) {
  console.error(`validate: ${msg}\nusage: node validate.mjs [--source DIR] [--external-secrets FILE] RENDERED.yaml`);
  process.exit(4);
}
const args = process.argv.slice(2);
if (args[0] === "--same") {
  if (args.length !== 3) usage("--same needs two files");
  process.exit(compareRenders(args[1], args[2]));
}
let sourceDir = null;
let externalFile = null;
let renderedFile = null;
const withFiles = [];
while (args.length) {
  const a = args.shift();
  if (a === "--source") sourceDir = args.shift() ?? usage("--source needs a value");
  else if (a === "--external-secrets") externalFile = args.shift() ?? usage("--external-secrets needs a value");
  else if (a === "--with") withFiles.push(args.shift() ?? usage("--with needs a value"));
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else if (renderedFile) usage("one rendered file only");
  else renderedFile = a;
}
if (!renderedFile) usage("no rendered file");

// ---- --same ------------------------------------------------------------------

function canonical(file) {
  const docs = yaml.loadAll(readFileSync(file, "utf8")).filter(Boolean);
  const generated = new Map();
  for (const d of docs) {
    const m = ["ConfigMap", "Secret"].includes(d.kind) && d.metadata?.name?.match(/^(.*)-[a-z0-9]{10}$/);
    if (m) generated.set(d.metadata.name, m[1]);
  }
  const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
    : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
  const out = new Map();
  for (const d of docs) {
    for (const f of ["annotations", "labels"]) {
      if (d.metadata?.[f] && Object.keys(d.metadata[f]).length === 0) delete d.metadata[f];
    }
    if (d.kind === "Secret" && d.data) for (const k of Object.keys(d.data)) d.data[k] = String(d.data[k]).replace(/\s/g, "");
    let text = JSON.stringify(sortKeys(d));
    for (const [full, base] of generated) text = text.split(`"${full}"`).join(`"${base}"`);
    const o = JSON.parse(text);
    out.set(`${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`, JSON.stringify(o, null, 1));
  }
  return out;
}

function compareRenders(a, b) {
  const A = canonical(a);
  const B = canonical(b);
  let differ = 0;
  for (const k of new Set([...A.keys(), ...B.keys()])) {
    if (!A.has(k) || !B.has(k)) {
      console.log(`only in ${A.has(k) ? a : b}: ${k}`);
      differ++;
    } else if (A.get(k) !== B.get(k)) {
      const la = A.get(k).split("\n");
      const lb = B.get(k).split("\n");
      const i = la.findIndex((l, j) => l !== lb[j]);
      console.log(`differs: ${k}, first at\n  ${a}: ${la[i]}\n  ${b}: ${lb[i]}`);
      differ++;
    }
  }
  console.log(`same: ${A.size} objects compared, ${differ} different`);
  return differ ? 1 : 0;
}

// ---- what tix's programs need -----------------------------------------------

// Variables each program must be given in a cluster: no usable default there
// (a connect default is 127.0.0.1) or the manifests rely on the value.
const PROGRAMS = {
  "tix-broker": {
    dir: "broker",
    required: ["TIX_FRONTEND", "TIX_BACKEND", "TIX_EVENTS_IN", "TIX_EVENTS_OUT", "TIX_QUEUE_LIMIT", "TIX_DRAIN_MS",
      "TIX_LOG_LEVEL", "TIX_HTTP"],
    binds: ["TIX_FRONTEND", "TIX_BACKEND", "TIX_EVENTS_IN", "TIX_EVENTS_OUT"],
    connects: [],
    drainVar: "TIX_DRAIN_MS", drainDefaultMs: 3000,
  },
  "tix-worker": {
    dir: "sale-worker",
    required: ["TIX_BACKEND", "TIX_EVENTS_IN", "TIX_REDIS_URL", "TIX_WORKER_ID", "TIX_LOG_LEVEL", "TIX_HTTP"],
    binds: [],
    connects: ["TIX_BACKEND", "TIX_EVENTS_IN"],
    redis: true,
  },
  "tix-persister": {
    dir: "persister",
    required: ["TIX_EVENTS_OUT", "TIX_REDIS_URL", "TIX_MONGO_URI", "TIX_SINK", "TIX_LOG_LEVEL", "TIX_HTTP"],
    binds: [],
    connects: ["TIX_EVENTS_OUT"],
    redis: true,
    drainVar: "TIX_DRAIN_MS", drainDefaultMs: 10000,
  },
  tix: { dir: "clients", required: ["TIX_FRONTEND"], binds: [], connects: ["TIX_FRONTEND"] },
  "tix-rush": { dir: "clients", required: ["TIX_FRONTEND"], binds: [], connects: ["TIX_FRONTEND"] },
};
// Variables a program is announced to read (PROTOCOL.md §6, issue 6) before
// its sources do: accepted, and printed as pending while the sources lack them.
// TIX_HTTP (issue 15): the HTTP endpoint of /metrics, /healthz and /readyz.
const ANNOUNCED = {
  "tix-broker": ["TIX_HTTP"],
  "tix-worker": ["TIX_HEALTH_FILE", "TIX_HTTP"],
  "tix-persister": ["TIX_HEALTH_FILE", "TIX_HTTP"],
};
// The programs that serve HTTP (TIX_HTTP), the port the manifests give it
// (named http), and Prometheus, the one peer allowed to reach it.
const HTTP_PROGRAMS = ["tix-broker", "tix-worker", "tix-persister"];
const PROMETHEUS_NAMESPACE = "monitoring";
const PROMETHEUS_PEERS = `pods named prometheus in namespace ${PROMETHEUS_NAMESPACE}`;

// Who may reach which pod port (docs/DEPLOY.md, "Network policies"): "*" is
// anyone, CLIENT_PEERS the pods labelled as clients. A pod port not listed
// here must be reachable by no one.
const CLIENT_LABEL = "tix-client";
const CLIENT_PEERS = `pods labelled ${CLIENT_LABEL}=true`;
const EXPECTED_INGRESS = {
  // Replication between Redis pods, Sentinels watching them, and the Redis
  // pods' init container asking the Sentinels which pod is the primary.
  "tix-redis:6379": ["tix-persister", "tix-redis", "tix-redis-sentinel", "tix-worker"],
  "tix-redis-sentinel:26379": ["tix-persister", "tix-redis", "tix-redis-sentinel", "tix-worker"],
  "tix-mongo:27017": ["tix-mongo", "tix-mongo-init", "tix-persister"],
  "tix-broker:5555": [CLIENT_PEERS],
  "tix-broker:5556": ["tix-worker"],
  "tix-broker:5557": ["tix-worker"],
  "tix-broker:5558": ["tix-persister"],
  "tix-broker:9100": [PROMETHEUS_PEERS],
  "tix-worker:9100": [PROMETHEUS_PEERS],
  "tix-persister:9100": [PROMETHEUS_PEERS],
};

const LOG_LEVELS = ["debug", "info", "warn", "error"];
const APP = "app.kubernetes.io/name";

// TIX_* names a program's sources mention, or null when there is no --source.
function sourceVariables(prog) {
  if (!sourceDir) return null;
  const dir = path.join(sourceDir, PROGRAMS[prog].dir);
  const names = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[ch]$/.test(e.name)) for (const m of readFileSync(p, "utf8").matchAll(/"(TIX_[A-Z0-9_]+)"/g)) names.add(m[1]);
    }
  };
  if (existsSync(dir)) walk(dir);
  // common/ is linked into every program.
  const common = path.join(sourceDir, "common");
  if (existsSync(common)) walk(common);
  return names;
}

// ---- reporting ----------------------------------------------------------------

const tally = { schema: { pass: 0, fail: 0 }, project: { pass: 0, fail: 0 } };
const notes = [];
function report(group, what, problems) {
  if (problems.length === 0) {
    tally[group].pass++;
    console.log(`ok   ${group}: ${what}`);
  } else {
    tally[group].fail++;
    console.log(`FAIL ${group}: ${what}`);
    for (const p of problems) console.log(`       - ${p}`);
  }
}

// ---- input ----------------------------------------------------------------------

let docs;
try {
  docs = yaml.loadAll(readFileSync(renderedFile, "utf8")).filter((d) => d !== null && d !== undefined);
} catch (e) {
  console.error(`validate: ${renderedFile}: ${e.message}`);
  process.exit(4);
}
if (docs.length === 0) {
  console.error(`validate: ${renderedFile}: no objects`);
  process.exit(4);
}
for (const f of withFiles) {
  try {
    docs.push(...yaml.loadAll(readFileSync(f, "utf8")).filter((d) => d !== null && d !== undefined));
  } catch (e) {
    console.error(`validate: ${f}: ${e.message}`);
    process.exit(4);
  }
}
const external = new Map(); // secret name -> Set of keys
if (externalFile) {
  for (const line of readFileSync(externalFile, "utf8").split("\n")) {
    const t = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (t.length) external.set(t[0], new Set(t.slice(1)));
  }
}
const id = (o) => `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;

// ---- the Prometheus operator's kinds, checked by hand ----------------------------

// kubernetes-models knows no monitoring.coreos.com: these check what the
// operator's CRDs require (apiVersion, kind, metadata.name, the spec's
// required fields and their types) and report fields they do not know.
const DURATION = /^(0|([0-9]+(ms|s|m|h|d|w|y))+)$/;
const isMap = (v) => v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");
function unknownKeys(obj, allowed, where) {
  return Object.keys(obj ?? {}).filter((k) => !allowed.includes(k)).map((k) => `unknown field ${where}${k}`);
}
function metaProblems(doc) {
  const p = unknownKeys(doc, ["apiVersion", "kind", "metadata", "spec"], "");
  if (!doc.metadata?.name) p.push("metadata.name is missing");
  for (const f of ["labels", "annotations"]) if (doc.metadata?.[f] !== undefined && !isMap(doc.metadata[f])) p.push(`metadata.${f} must be a map of strings`);
  if (!doc.spec || typeof doc.spec !== "object") p.push("spec is missing");
  return p;
}
const HAND_SCHEMAS = {
  "monitoring.coreos.com/v1/ServiceMonitor": (doc) => {
    const p = metaProblems(doc);
    const spec = doc.spec ?? {};
    p.push(...unknownKeys(spec, ["selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels", "sampleLimit"], "spec."));
    const sel = spec.selector;
    if (!sel || typeof sel !== "object") p.push("/spec/selector is required");
    else {
      p.push(...unknownKeys(sel, ["matchLabels", "matchExpressions"], "spec.selector."));
      if (sel.matchLabels !== undefined && !isMap(sel.matchLabels)) p.push("/spec/selector/matchLabels must be a map of strings");
    }
    if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) p.push("/spec/endpoints must be a non-empty array");
    (spec.endpoints ?? []).forEach((e, i) => {
      p.push(...unknownKeys(e, ["port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings"], `spec.endpoints[${i}].`));
      if (typeof e.port !== "string" && e.targetPort === undefined) p.push(`/spec/endpoints/${i} names no port (a Service port name)`);
      if (e.path !== undefined && !/^\//.test(String(e.path))) p.push(`/spec/endpoints/${i}/path must start with /`);
      for (const f of ["interval", "scrapeTimeout"]) if (e[f] !== undefined && !DURATION.test(String(e[f]))) p.push(`/spec/endpoints/${i}/${f} ${e[f]} is not a duration`);
    });
    return p;
  },
  "monitoring.coreos.com/v1/PrometheusRule": (doc) => {
    const p = metaProblems(doc);
    const spec = doc.spec ?? {};
    p.push(...unknownKeys(spec, ["groups"], "spec."));
    if (!Array.isArray(spec.groups) || spec.groups.length === 0) p.push("/spec/groups must be a non-empty array");
    const names = new Set();
    (spec.groups ?? []).forEach((g, i) => {
      p.push(...unknownKeys(g, ["name", "interval", "rules", "partial_response_strategy"], `spec.groups[${i}].`));
      if (typeof g.name !== "string" || !g.name) p.push(`/spec/groups/${i}/name is required`);
      else if (names.has(g.name)) p.push(`/spec/groups/${i}/name ${g.name} is not unique`);
      names.add(g.name);
      if (!Array.isArray(g.rules) || g.rules.length === 0) p.push(`/spec/groups/${i}/rules must be a non-empty array`);
      (g.rules ?? []).forEach((r, j) => {
        const at = `/spec/groups/${i}/rules/${j}`;
        p.push(...unknownKeys(r, ["alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"], `spec.groups[${i}].rules[${j}].`));
        if ((r.alert === undefined) === (r.record === undefined)) p.push(`${at} must have exactly one of alert and record`);
        if (typeof r.expr !== "string" || !r.expr.trim()) p.push(`${at}/expr is required`);
        if (r.for !== undefined && !DURATION.test(String(r.for))) p.push(`${at}/for ${r.for} is not a duration`);
        for (const f of ["labels", "annotations"]) if (r[f] !== undefined && !isMap(r[f])) p.push(`${at}/${f} must be a map of strings`);
      });
    });
    return p;
  },
};

// ---- schema checks --------------------------------------------------------------

// Wraps obj so that every property the validator reads is recorded; an
// object the validator enumerated (a map such as labels or data) counts as
// fully read.
function track(node, where, records) {
  if (node === null || typeof node !== "object") return node;
  const rec = { read: new Set(), enumerated: false, where, keys: Array.isArray(node) ? [] : Object.keys(node) };
  records.push(rec);
  const copy = Array.isArray(node)
    ? node.map((v, i) => track(v, `${where}[${i}]`, records))
    : Object.fromEntries(Object.entries(node).map(([k, v]) => [k, track(v, where ? `${where}.${k}` : k, records)]));
  if (Array.isArray(node)) rec.enumerated = true;
  return new Proxy(copy, {
    get(t, k, r) {
      if (typeof k === "string") rec.read.add(k);
      return Reflect.get(t, k, r);
    },
    has(t, k) {
      if (typeof k === "string") rec.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      rec.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  try {
    const mod = requireTool(`kubernetes-models/${apiVersion}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

for (const doc of docs) {
  const problems = [];
  const Model = modelFor(doc.apiVersion, doc.kind);
  const byHand = HAND_SCHEMAS[`${doc.apiVersion}/${doc.kind}`];
  if (byHand) {
    problems.push(...byHand(doc));
  } else if (!Model) {
    problems.push(`no Kubernetes schema for apiVersion=${doc.apiVersion} kind=${doc.kind}`);
  } else {
    const records = [];
    // kustomize (v4 and later) wraps long base64 Secret values over lines;
    // the API server's decoder (Go's encoding/base64) skips \r and \n, the
    // schema's "byte" format does not: unwrap them before validating.
    const subject = doc.kind === "Secret" && doc.data
      ? { ...doc, data: Object.fromEntries(Object.entries(doc.data).map(([k, v]) => [k, typeof v === "string" ? v.replace(/[\r\n]/g, "") : v])) }
      : doc;
    const proxied = track(subject, "", records);
    try {
      // The model's validate() runs the compiled JSON-schema validator on `this`.
      Model.prototype.validate.call(proxied);
    } catch (e) {
      for (const err of e.errors ?? [{ instancePath: "", message: e.message }]) {
        problems.push(`${err.instancePath || "/"} ${err.message}${err.params?.additionalProperty ? `: ${err.params.additionalProperty}` : ""}`);
      }
    }
    for (const r of records) {
      if (r.enumerated) continue;
      for (const k of r.keys) if (!r.read.has(k)) problems.push(`unknown field ${r.where ? `${r.where}.` : ""}${k}`);
    }
    if (!doc.metadata?.name) problems.push("metadata.name is missing");
  }
  report("schema", `${id(doc)} (${doc.apiVersion})`, problems);
}

// ---- the objects, indexed ---------------------------------------------------------

const byKind = (k) => docs.filter((d) => d.kind === k);
const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
const secrets = new Map(byKind("Secret").map((s) => [s.metadata.name, s]));
const services = new Map(byKind("Service").map((s) => [s.metadata.name, s]));

const WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"];
const workloads = docs.filter((d) => WORKLOAD_KINDS.includes(d.kind)).map((w) => {
  const tpl = w.kind === "Pod" ? w : w.kind === "CronJob" ? w.spec?.jobTemplate?.spec?.template : w.spec?.template;
  return {
    obj: w,
    labels: tpl?.metadata?.labels ?? {},
    annotations: tpl?.metadata?.annotations ?? {},
    pod: tpl?.spec ?? {},
    longRunning: !["Job", "CronJob"].includes(w.kind),
  };
});

function selects(selector, labels) {
  if (!selector) return false;
  const ml = selector.matchLabels ?? (selector.matchExpressions ? {} : selector);
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const selected = (selector) => workloads.filter((w) => selects(selector, w.labels));

// Quantities: "100m", "1", "64Mi", "8Gi", "1e3"...
function quantity(q) {
  if (q === undefined || q === null) return NaN;
  const m = String(q).match(/^([0-9.]+(?:e[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/);
  if (!m) return NaN;
  const mult = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

// ---- environment resolution -----------------------------------------------------

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const EXTERNAL_VALUE = "EXTERNALSECRET";

function secretValue(name, key, optional, problems, what) {
  const s = secrets.get(name);
  if (s) {
    const data = s.data ?? {};
    if (Object.hasOwn(data, key)) return { value: Buffer.from(data[key], "base64").toString("utf8"), secret: true };
    if (Object.hasOwn(s.stringData ?? {}, key)) return { value: s.stringData[key], secret: true };
    if (!optional) problems.push(`${what}: Secret ${name} has no key ${key}`);
    return null;
  }
  if (external.has(name)) {
    if (!external.get(name).has(key)) problems.push(`${what}: external Secret ${name} is not declared with key ${key}`);
    return { value: EXTERNAL_VALUE, secret: true, external: true };
  }
  if (!optional) problems.push(`${what}: Secret ${name} is neither rendered nor declared external`);
  return null;
}

// Expands $(VAR) like the kubelet; an unresolved reference is a problem
// (Kubernetes would silently leave "$(VAR)" in the value).
function expand(text, env, problems, what) {
  return String(text).replace(/\$\$|\$\(([^)]*)\)/g, (all, name) => {
    if (all === "$$") return "$";
    if (env.has(name)) return env.get(name).value;
    problems.push(`${what}: $(${name}) is not defined before it is used`);
    return all;
  });
}

function resolveEnv(c, problems) {
  const env = new Map(); // name -> { value, secret, external, from }
  for (const ef of c.envFrom ?? []) {
    const prefix = ef.prefix ?? "";
    if (ef.configMapRef) {
      const cm = configMaps.get(ef.configMapRef.name);
      if (!cm) {
        if (!ef.configMapRef.optional) problems.push(`envFrom: ConfigMap ${ef.configMapRef.name} is not rendered`);
        continue;
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) {
        if (ENV_NAME.test(prefix + k)) env.set(prefix + k, { value: String(v), from: `ConfigMap ${cm.metadata.name}` });
      }
    } else if (ef.secretRef) {
      const s = secrets.get(ef.secretRef.name);
      if (s) {
        for (const [k, v] of Object.entries(s.data ?? {})) {
          if (ENV_NAME.test(prefix + k)) env.set(prefix + k, { value: Buffer.from(v, "base64").toString("utf8"), secret: true, from: `Secret ${s.metadata.name}` });
        }
      } else if (external.has(ef.secretRef.name)) {
        for (const k of external.get(ef.secretRef.name)) env.set(prefix + k, { value: EXTERNAL_VALUE, secret: true, external: true, from: `Secret ${ef.secretRef.name}` });
      } else if (!ef.secretRef.optional) {
        problems.push(`envFrom: Secret ${ef.secretRef.name} is neither rendered nor declared external`);
      }
    }
  }
  for (const e of c.env ?? []) {
    const what = `env ${e.name}`;
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.configMapKeyRef) {
        const cm = configMaps.get(vf.configMapKeyRef.name);
        if (!cm) {
          if (!vf.configMapKeyRef.optional) problems.push(`${what}: ConfigMap ${vf.configMapKeyRef.name} is not rendered`);
        } else if (!Object.hasOwn(cm.data ?? {}, vf.configMapKeyRef.key)) {
          if (!vf.configMapKeyRef.optional) problems.push(`${what}: ConfigMap ${cm.metadata.name} has no key ${vf.configMapKeyRef.key}`);
        } else {
          env.set(e.name, { value: String(cm.data[vf.configMapKeyRef.key]), from: `ConfigMap ${cm.metadata.name}` });
        }
      } else if (vf.secretKeyRef) {
        const v = secretValue(vf.secretKeyRef.name, vf.secretKeyRef.key, vf.secretKeyRef.optional, problems, what);
        // A missing Secret is reported once, above; the variable still counts
        // as defined so that its users are not reported again.
        env.set(e.name, { ...(v ?? { value: "MISSINGSECRET", secret: true, external: true }), from: `Secret ${vf.secretKeyRef.name}` });
      } else if (vf.fieldRef) {
        env.set(e.name, { value: `FIELD_${vf.fieldRef.fieldPath.replace(/\W/g, "_")}`, from: `field ${vf.fieldRef.fieldPath}` });
      } else if (vf.resourceFieldRef) {
        env.set(e.name, { value: "1", from: `resource ${vf.resourceFieldRef.resource}` });
      }
    } else {
      const refs = [...String(e.value ?? "").matchAll(/\$\(([^)]*)\)/g)].map((m) => m[1]);
      const usesSecret = refs.some((r) => env.get(r)?.secret);
      const usesExternal = refs.some((r) => env.get(r)?.external);
      env.set(e.name, { value: expand(e.value ?? "", env, problems, what), secret: usesSecret, external: usesExternal, refs, from: "env" });
    }
  }
  return env;
}

// ---- endpoints -------------------------------------------------------------------

// "tcp://host:port" -> { host, port } or null.
function tcpEndpoint(v) {
  const m = String(v).match(/^tcp:\/\/([^:/]+):(\d+)$/);
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

// The containers behind "<statefulset>-<ordinal>.<headless Service>":port,
// the DNS name of one StatefulSet pod (how workers list every broker). null
// when host does not have that shape; problems when the pod cannot exist.
function podTargets(host, port, problems, what) {
  const [podName, svcName] = host.split(".");
  if (!svcName) return null;
  const sts = byKind("StatefulSet").find((s) => s.spec?.serviceName === svcName && podName.startsWith(`${s.metadata.name}-`));
  if (!sts) return null;
  const ordinal = Number(podName.slice(sts.metadata.name.length + 1));
  const svc = services.get(svcName);
  if (!Number.isInteger(ordinal) || !(ordinal < (sts.spec.replicas ?? 1))) problems.push(`${what}: host ${host}, but StatefulSet ${sts.metadata.name} has ${sts.spec.replicas ?? 1} replica(s)`);
  if (!svc) problems.push(`${what}: no Service named ${svcName}`);
  else if (svc.spec?.clusterIP !== "None") problems.push(`${what}: Service ${svcName} is not headless (no per-pod DNS names)`);
  else if (svc.spec?.publishNotReadyAddresses !== true) problems.push(`${what}: Service ${svcName} does not publish not-ready pods (a broker is ready only once workers reach it)`);
  const w = workloads.find((x) => x.obj === sts);
  const out = [];
  for (const c of w?.pod.containers ?? []) {
    const cp = (c.ports ?? []).find((p) => p.containerPort === port);
    if (cp) out.push({ workload: w, container: c, containerPort: cp.containerPort });
  }
  if (out.length === 0) problems.push(`${what}: no container of StatefulSet ${sts.metadata.name} declares port ${port}`);
  return out;
}

// The containers (with their workloads) behind a Service port, or behind a
// StatefulSet pod's DNS name (podTargets); problems if the Service or port
// does not exist or selects nothing.
function serviceTargets(host, port, problems, what) {
  const pod = podTargets(host, port, problems, what);
  if (pod) return pod;
  const name = host.split(".")[0];
  const svc = services.get(name);
  if (!svc) {
    problems.push(`${what}: no Service named ${name}`);
    return [];
  }
  const sp = (svc.spec?.ports ?? []).find((p) => p.port === port);
  if (!sp) {
    problems.push(`${what}: Service ${name} has no port ${port}`);
    return [];
  }
  const pods = selected(svc.spec?.selector ? { matchLabels: svc.spec.selector } : null);
  if (pods.length === 0) problems.push(`${what}: Service ${name} selects no pod`);
  const out = [];
  for (const w of pods) {
    for (const c of w.pod.containers ?? []) {
      const target = sp.targetPort ?? sp.port;
      const cp = (c.ports ?? []).find((p) => (typeof target === "number" ? p.containerPort === target : p.name === target));
      if (cp) out.push({ workload: w, container: c, containerPort: cp.containerPort });
    }
  }
  if (pods.length && out.length === 0) problems.push(`${what}: Service ${name} port ${port} targets no container port`);
  return out;
}

const URL_SAFE = /^[A-Za-z0-9._~-]*$/;
function checkUrlSecret(env, name, problems) {
  for (const r of env.get(name)?.refs ?? []) {
    const v = env.get(r);
    if (v?.secret && !v.external && !URL_SAFE.test(v.value)) {
      problems.push(`${name}: $(${r}) is inserted unescaped into a URL but holds characters other than [A-Za-z0-9._~-]`);
    }
  }
}

// A container running Redis Sentinel (redis-server --sentinel, or redis-sentinel).
const isSentinel = (c) => (c.command ?? [])[0] === "redis-sentinel" ||
  ((c.command ?? [])[0] === "redis-server" && [...(c.command ?? []), ...(c.args ?? [])].includes("--sentinel"));
const isRedisNode = (c) => (c.command ?? [])[0] === "redis-server" && !isSentinel(c);

// Redis is replicated (docs/DEPLOY.md, "Redis"): workers and the persister
// find the primary through three or more Sentinels, under the name they
// monitor, and hold every write until a replica has it.
function checkRedisUrl(env, problems) {
  const v = env.get("TIX_REDIS_URL")?.value ?? "";
  const m = v.match(/^redis-sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/([A-Za-z0-9._-]+)$/);
  if (!m) {
    problems.push(`TIX_REDIS_URL is not redis-sentinel://[[user]:password@]host:port,.../MASTER (one Redis is a single point of failure): ${redact(v)}`);
  } else {
    if (!m[2]) problems.push("TIX_REDIS_URL has no password (Redis runs with requirepass)");
    checkUrlSecret(env, "TIX_REDIS_URL", problems);
    const hosts = m[3].split(",");
    if (new Set(hosts).size < 3) problems.push(`TIX_REDIS_URL lists ${new Set(hosts).size} Sentinel(s), want 3 or more`);
    for (const hp of hosts) {
      const e = hp.match(/^([^:]+):(\d+)$/);
      if (!e) {
        problems.push(`TIX_REDIS_URL: Sentinel ${hp} is not host:port`);
        continue;
      }
      for (const t of serviceTargets(e[1], Number(e[2]), problems, "TIX_REDIS_URL")) {
        if (!isSentinel(t.container)) problems.push(`TIX_REDIS_URL: ${hp} leads to ${id(t.workload.obj)}, not to a Sentinel`);
        else if (sentinelMonitor(t.workload)?.name !== m[4]) problems.push(`TIX_REDIS_URL: master name ${m[4]}, but ${id(t.workload.obj)} monitors ${sentinelMonitor(t.workload)?.name}`);
      }
    }
  }
  const n = Number(env.get("TIX_REDIS_MIN_REPLICAS")?.value ?? 0);
  if (!(n >= 1)) problems.push(`TIX_REDIS_MIN_REPLICAS is ${env.get("TIX_REDIS_MIN_REPLICAS")?.value ?? "unset"}, want >= 1 (no reply before a replica has the write)`);
}

// The text of every ConfigMap key mounted into workload w (any container).
function mountedConfig(w, keyPattern) {
  let text = "";
  for (const v of w.pod.volumes ?? []) {
    const cm = v.configMap && configMaps.get(v.configMap.name);
    for (const [k, val] of Object.entries(cm?.data ?? {})) if (keyPattern.test(k)) text += `\n${val}`;
  }
  return text;
}

// A Sentinel workload's `sentinel monitor NAME HOST PORT QUORUM` and
// down-after-milliseconds, from its mounted configuration.
function sentinelMonitor(w) {
  const conf = mountedConfig(w, /sentinel/);
  const mon = conf.match(/^\s*sentinel\s+monitor\s+(\S+)\s+\S+\s+\d+\s+(\d+)/m);
  if (!mon) return null;
  const down = conf.match(new RegExp(`^\\s*sentinel\\s+down-after-milliseconds\\s+${mon[1]}\\s+(\\d+)`, "m"));
  return { name: mon[1], quorum: Number(mon[2]), downAfterMs: down ? Number(down[1]) : undefined };
}

// Namespace tix (the production overlay) must require one pod per node.
const STRICT_SPREAD = docs.some((d) => d.kind === "Namespace" && d.metadata?.name === "tix");
// One pod per node (required pod anti-affinity on the hostname against its
// own pods) and a PodDisruptionBudget letting at most one pod go at a time.
function spreadProblems(w, what) {
  const p = [];
  // Preferred is accepted for one-node clusters (the dev overlay); the
  // production overlay is held to required by name.
  const aa = w.pod.affinity?.podAntiAffinity ?? {};
  const own = (t) => t?.topologyKey === "kubernetes.io/hostname" && selects(t.labelSelector, w.labels);
  const required = (aa.requiredDuringSchedulingIgnoredDuringExecution ?? []).some(own);
  const preferred = (aa.preferredDuringSchedulingIgnoredDuringExecution ?? []).some((t) => own(t.podAffinityTerm));
  if (!required && !(preferred && !STRICT_SPREAD)) {
    p.push(`${what} ${id(w.obj)} has no ${STRICT_SPREAD ? "required " : ""}pod anti-affinity on kubernetes.io/hostname: two of its pods may share a node`);
  }
  const replicas = w.obj.spec?.replicas ?? 1;
  const pdbs = byKind("PodDisruptionBudget").filter((pdb) => selects(pdb.spec?.selector, w.labels));
  const oneAtATime = (pdb) => pdb.spec?.maxUnavailable === 1 || (Number.isInteger(pdb.spec?.minAvailable) && pdb.spec.minAvailable >= replicas - 1);
  if (pdbs.length === 0) p.push(`${what} ${id(w.obj)} has no PodDisruptionBudget`);
  else if (!pdbs.some(oneAtATime)) p.push(`${what} ${id(w.obj)}: no PodDisruptionBudget keeps all but one pod`);
  return p;
}

function checkMongoUri(env, problems) {
  const v = env.get("TIX_MONGO_URI")?.value ?? "";
  const m = v.match(/^mongodb:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^/?]+)(\/[^?]*)?(\?.*)?$/);
  if (!m) {
    problems.push(`TIX_MONGO_URI is not a mongodb:// URI: ${redact(v)}`);
    return;
  }
  const query = new URLSearchParams((m[5] ?? "").slice(1));
  if (!query.get("replicaSet")) problems.push("TIX_MONGO_URI names no replicaSet");
  checkUrlSecret(env, "TIX_MONGO_URI", problems);
  for (const hp of m[3].split(",")) {
    const [host, port] = hp.split(":");
    const [podName, svcName] = host.split(".");
    const svc = services.get(svcName ?? podName);
    if (!svc) {
      problems.push(`TIX_MONGO_URI: host ${hp}: no Service named ${svcName ?? podName}`);
      continue;
    }
    if (!(svc.spec?.ports ?? []).some((p) => p.port === Number(port ?? 27017))) problems.push(`TIX_MONGO_URI: Service ${svc.metadata.name} has no port ${port}`);
    if (svcName) {
      // host = <statefulset>-<ordinal>.<governing service>
      const sts = byKind("StatefulSet").find((s) => s.spec?.serviceName === svcName && podName.startsWith(`${s.metadata.name}-`));
      const ordinal = sts ? Number(podName.slice(sts.metadata.name.length + 1)) : NaN;
      if (!sts) problems.push(`TIX_MONGO_URI: host ${hp} is no pod of a StatefulSet governed by Service ${svcName}`);
      else if (!(ordinal < (sts.spec.replicas ?? 1))) problems.push(`TIX_MONGO_URI: host ${hp}, but StatefulSet ${sts.metadata.name} has ${sts.spec.replicas ?? 1} replica(s)`);
    }
  }
}

const redact = (v) => String(v).replace(/:\/\/([^@/]*)@/, "://***@");

// ---- the HTTP endpoint: probes and scraping ----------------------------------------

// TIX_HTTP binds every interface on a port the container names http; the
// probes are httpGet /readyz and /healthz on it; the pod template carries
// the prometheus.io annotations for it; a Service publishes it for every
// pod, ready or not (a broker without workers is not ready, and that is
// when its metrics matter).
function httpProblems(w, c, env) {
  const p = [];
  const v = env.get("TIX_HTTP")?.value;
  if (!v) return p; // reported as a required variable
  const m = String(v).match(/^(0\.0\.0\.0|\[::\]|\*):(\d+)$/);
  if (!m) {
    p.push(`TIX_HTTP=${v}: want 0.0.0.0:PORT (the kubelet and Prometheus come from outside the pod)`);
    return p;
  }
  const port = Number(m[2]);
  const named = (c.ports ?? []).find((cp) => cp.name === "http");
  if (!named) p.push("no container port named http (TIX_HTTP's port)");
  else if (named.containerPort !== port) p.push(`container port http is ${named.containerPort}, but TIX_HTTP binds ${port}`);
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]]) {
    const g = c[probe]?.httpGet;
    if (!g || g.path !== path || (g.port !== "http" && g.port !== port)) p.push(`${probe} is not httpGet ${path} on port http`);
  }
  const a = w.annotations;
  if (a["prometheus.io/scrape"] !== "true") p.push("pod template lacks the annotation prometheus.io/scrape: \"true\"");
  if (a["prometheus.io/port"] !== String(port)) p.push(`pod template annotation prometheus.io/port is ${a["prometheus.io/port"]}, want "${port}"`);
  if (a["prometheus.io/path"] !== "/metrics") p.push("pod template annotation prometheus.io/path is not /metrics");
  const svc = [...services.values()].find((s) => selects(s.spec?.selector ? { matchLabels: s.spec.selector } : null, w.labels) &&
    (s.spec?.ports ?? []).some((sp) => sp.name === "http" && (sp.targetPort === "http" || sp.targetPort === port)));
  if (!svc) p.push("no Service publishes its http port (what a ServiceMonitor selects)");
  else if (svc.spec?.publishNotReadyAddresses !== true) p.push(`Service ${svc.metadata.name} does not publish not-ready pods: their metrics would vanish when they matter`);
  return p;
}

// ---- per-container checks -------------------------------------------------------

function podSecurityProblems(w) {
  const p = [];
  const psc = w.pod.securityContext ?? {};
  const all = [...(w.pod.initContainers ?? []), ...(w.pod.containers ?? [])];
  if (!psc.seccompProfile && all.some((c) => !c.securityContext?.seccompProfile)) p.push("no seccompProfile (pod or every container): want RuntimeDefault");
  else if (psc.seccompProfile && !["RuntimeDefault", "Localhost"].includes(psc.seccompProfile.type)) p.push(`seccompProfile ${psc.seccompProfile.type}`);
  if (w.pod.hostNetwork || w.pod.hostPID || w.pod.hostIPC) p.push("uses host namespaces");
  if (w.pod.automountServiceAccountToken !== false) p.push("automountServiceAccountToken is not false (no tix pod talks to the API server)");
  if (w.pod.enableServiceLinks !== false) p.push("enableServiceLinks is not false (service links inject TIX_<SERVICE>_* variables)");
  return p;
}

function containerProblems(w, c, isInit) {
  const p = [];
  const sc = c.securityContext ?? {};
  const psc = w.pod.securityContext ?? {};
  const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
  const user = sc.runAsUser ?? psc.runAsUser;
  if (nonRoot !== true) p.push("runAsNonRoot is not true");
  if (user === 0) p.push("runAsUser is 0");
  if (sc.readOnlyRootFilesystem !== true) p.push("readOnlyRootFilesystem is not true");
  if (sc.allowPrivilegeEscalation !== false) p.push("allowPrivilegeEscalation is not false");
  if (sc.privileged) p.push("privileged");
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) p.push("capabilities.drop does not include ALL");
  if ((sc.capabilities?.add ?? []).length) p.push(`adds capabilities ${sc.capabilities.add.join(",")}`);
  const r = c.resources ?? {};
  for (const kind of ["requests", "limits"]) {
    for (const res of ["cpu", "memory"]) {
      if (r[kind]?.[res] === undefined) p.push(`no resources.${kind}.${res}`);
      else if (Number.isNaN(quantity(r[kind][res]))) p.push(`resources.${kind}.${res} ${r[kind][res]} is not a quantity`);
    }
  }
  for (const res of ["cpu", "memory"]) {
    if (quantity(r.requests?.[res]) > quantity(r.limits?.[res])) p.push(`resources.requests.${res} exceeds the limit`);
  }
  if (!c.image || !/[:@]/.test(c.image.split("/").pop())) p.push(`image ${c.image} has no tag or digest (an overlay's images: must set one)`);
  if (!isInit && w.longRunning) {
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const pr = c[probe];
      if (!pr) {
        p.push(`no ${probe}`);
        continue;
      }
      const port = pr.tcpSocket?.port ?? pr.httpGet?.port ?? pr.grpc?.port;
      if (typeof port === "string" && !(c.ports ?? []).some((cp) => cp.name === port)) p.push(`${probe} uses port ${port}, which the container does not name`);
      if (!pr.exec && !pr.tcpSocket && !pr.httpGet && !pr.grpc) p.push(`${probe} has no handler`);
    }
  }
  // A read-only root needs every written path on a volume.
  return p;
}

// Every path a program writes must be on a writable volume.
function writablePath(c, file) {
  return (c.volumeMounts ?? []).some((m) => !m.readOnly && (file === m.mountPath || file.startsWith(`${m.mountPath.replace(/\/$/, "")}/`)));
}

function programProblems(w, c, prog, env) {
  const p = [];
  const spec = PROGRAMS[prog];
  const known = sourceVariables(prog);
  for (const v of spec.required) {
    if (!env.has(v) || env.get(v).value === "") p.push(`${v} is not set (${prog} needs it)`);
  }
  for (const [name, val] of env) {
    if (!name.startsWith("TIX_")) continue;
    if (known && !known.has(name)) {
      if ((ANNOUNCED[prog] ?? []).includes(name)) notes.push(`pending: ${prog} sources do not read ${name} yet (set by ${id(w.obj)}; its probes rely on it)`);
      else p.push(`${name} (from ${val.from}) is not read by ${prog}: a typo, or a variable for another program`);
    }
  }
  const ll = env.get("TIX_LOG_LEVEL")?.value;
  if (ll !== undefined && !LOG_LEVELS.includes(ll)) p.push(`TIX_LOG_LEVEL=${ll} is not one of ${LOG_LEVELS.join(", ")}`);
  for (const v of spec.binds.filter((b) => env.has(b))) {
    const ep = tcpEndpoint(env.get(v).value);
    if (!ep) {
      p.push(`${v}=${env.get(v)?.value} is not tcp://HOST:PORT`);
      continue;
    }
    if (!["*", "0.0.0.0"].includes(ep.host)) p.push(`${v}=${env.get(v).value}: a bind address in a pod should be tcp://*:PORT`);
    if (!(c.ports ?? []).some((cp) => cp.containerPort === ep.port)) p.push(`${v} binds port ${ep.port}, which the container does not declare`);
  }
  for (const v of spec.connects.filter((b) => env.has(b))) {
    for (const one of String(env.get(v)?.value ?? "").split(",").filter(Boolean)) {
      const ep = tcpEndpoint(one);
      if (!ep) {
        p.push(`${v}=${one} is not tcp://HOST:PORT`);
        continue;
      }
      if (["*", "0.0.0.0", "127.0.0.1", "localhost"].includes(ep.host)) {
        p.push(`${v}=${one}: connects to ${ep.host}, not to a Service`);
        continue;
      }
      // The Service must lead to a broker that binds the same variable on
      // that port (the worker's TIX_BACKEND to the broker's TIX_BACKEND...).
      for (const t of serviceTargets(ep.host, ep.port, p, v)) {
        const tprog = (t.container.command ?? [])[0];
        if (tprog !== "tix-broker") {
          p.push(`${v}=${one} leads to ${id(t.workload.obj)}, not to tix-broker`);
          continue;
        }
        const tenv = resolveEnv(t.container, []);
        const bound = tcpEndpoint(tenv.get(v)?.value ?? "");
        if (!bound || bound.port !== t.containerPort) p.push(`${v}=${one} reaches broker port ${t.containerPort}, but the broker binds ${v}=${tenv.get(v)?.value}`);
      }
    }
  }
  if (spec.redis && env.has("TIX_REDIS_URL")) checkRedisUrl(env, p);
  if (prog === "tix-persister") {
    const sink = env.get("TIX_SINK")?.value ?? "";
    if (!(sink === "mongodb" || /^jsonl:./.test(sink))) p.push(`TIX_SINK=${sink} is not mongodb or jsonl:PATH`);
    if (sink === "mongodb" && env.has("TIX_MONGO_URI")) checkMongoUri(env, p);
    if (sink.startsWith("jsonl:") && !writablePath(c, sink.slice(6))) p.push(`TIX_SINK=${sink}: not on a writable volume`);
  }
  if (HTTP_PROGRAMS.includes(prog)) p.push(...httpProblems(w, c, env));
  const hf = env.get("TIX_HEALTH_FILE")?.value;
  if (hf) {
    if (!writablePath(c, hf)) p.push(`TIX_HEALTH_FILE=${hf} is not on a writable volume (the root filesystem is read-only)`);
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const cmd = (c[probe]?.exec?.command ?? []).join(" ");
      if (c[probe] && !cmd.includes(hf)) p.push(`${probe} does not read TIX_HEALTH_FILE (${hf})`);
    }
  }
  if (spec.drainVar) {
    const drainMs = Number(env.get(spec.drainVar)?.value ?? spec.drainDefaultMs);
    const preStop = c.lifecycle?.preStop?.exec?.command;
    const sleepS = preStop && preStop[0] === "sleep" ? Number(preStop[1]) : 0;
    const grace = w.pod.terminationGracePeriodSeconds ?? 30;
    if (grace < sleepS + drainMs / 1000 + 5) p.push(`terminationGracePeriodSeconds ${grace} < preStop ${sleepS} s + ${spec.drainVar} ${drainMs / 1000} s + 5 s`);
  }
  return p;
}

// ---- project checks: workloads ----------------------------------------------------

for (const w of workloads) {
  report("project", `${id(w.obj)}: pod security`, podSecurityProblems(w));
  for (const [isInit, list] of [[true, w.pod.initContainers ?? []], [false, w.pod.containers ?? []]]) {
    for (const c of list) {
      const problems = containerProblems(w, c, isInit);
      const env = resolveEnv(c, problems);
      for (const [field, vals] of [["command", c.command], ["args", c.args]]) {
        for (const v of vals ?? []) expand(v, env, problems, field);
      }
      for (const m of c.volumeMounts ?? []) {
        if (!(w.pod.volumes ?? []).some((v) => v.name === m.name) &&
            !(w.obj.spec?.volumeClaimTemplates ?? []).some((t) => t.metadata?.name === m.name)) {
          problems.push(`volumeMount ${m.name} has no volume`);
        }
      }
      for (const v of w.pod.volumes ?? []) {
        if (v.configMap && !configMaps.has(v.configMap.name) && !v.configMap.optional) problems.push(`volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`);
        if (v.secret) {
          if (!secrets.has(v.secret.secretName) && !external.has(v.secret.secretName) && !v.secret.optional) problems.push(`volume ${v.name}: Secret ${v.secret.secretName} is neither rendered nor declared external`);
          for (const it of v.secret.items ?? []) {
            if (secrets.has(v.secret.secretName) || external.has(v.secret.secretName)) secretValue(v.secret.secretName, it.key, v.secret.optional, problems, `volume ${v.name}`);
          }
        }
      }
      const prog = (c.command ?? [])[0];
      if (prog && PROGRAMS[prog]) problems.push(...programProblems(w, c, prog, env));
      report("project", `${id(w.obj)}: ${isInit ? "init container" : "container"} ${c.name}${prog && PROGRAMS[prog] ? ` (${prog})` : ""}`, problems);
    }
  }
}

// Every tix program with a long-running role is deployed.
{
  const deployed = new Set(workloads.flatMap((w) => (w.pod.containers ?? []).map((c) => (c.command ?? [])[0])));
  const missing = ["tix-broker", "tix-worker", "tix-persister"].filter((p) => !deployed.has(p));
  report("project", "tix-broker, tix-worker and tix-persister are all deployed", missing.map((m) => `no container runs ${m}`));
}

// ---- project checks: stores ---------------------------------------------------------

for (const sts of byKind("StatefulSet")) {
  const p = [];
  if (!services.has(sts.spec?.serviceName)) p.push(`governing Service ${sts.spec?.serviceName} is not rendered`);
  else if (services.get(sts.spec.serviceName).spec?.clusterIP !== "None") p.push(`governing Service ${sts.spec.serviceName} is not headless`);
  for (const t of sts.spec?.volumeClaimTemplates ?? []) {
    if (!t.spec?.resources?.requests?.storage) p.push(`volumeClaimTemplate ${t.metadata?.name} requests no storage`);
  }
  report("project", `${id(sts)}: governing Service and storage`, p);
}
{
  // Redis: durable before acknowledged (DESIGN.md guarantee 5), password required.
  const p = [];
  const redis = workloads.filter((w) => (w.pod.containers ?? []).some(isRedisNode));
  if (redis.length === 0) p.push("no container runs redis-server");
  for (const w of redis) {
    if (w.obj.kind !== "StatefulSet" || !(w.obj.spec?.volumeClaimTemplates ?? []).length) p.push(`${id(w.obj)} is not a StatefulSet with a PersistentVolumeClaim`);
    const replicas = w.obj.spec?.replicas ?? 1;
    if (replicas < 3) p.push(`Redis is ${replicas} pod(s) of ${id(w.obj)}, want 3 (a primary and two replicas)`);
    p.push(...spreadProblems(w, "Redis"));
    const c = w.pod.containers.find(isRedisNode);
    const argv = (c.args ?? []).join(" ");
    if (!/--requirepass \$\(\w+\)/.test(argv)) p.push("redis-server gets no --requirepass $(VAR)");
    if (!/--masterauth \$\(\w+\)/.test(argv)) p.push("redis-server gets no --masterauth $(VAR): replicas cannot authenticate to the primary");
    let conf = "";
    for (const m of c.volumeMounts ?? []) {
      const vol = (w.pod.volumes ?? []).find((v) => v.name === m.name);
      const cm = vol?.configMap && configMaps.get(vol.configMap.name);
      if (cm) for (const [k, v] of Object.entries(cm.data ?? {})) if (argv.includes(`${m.mountPath}/${k}`)) conf += `\n${v}`;
    }
    const directive = (name) => {
      const fromArgs = argv.match(new RegExp(`--${name} (\\S+)`));
      const lines = [...conf.matchAll(new RegExp(`^\\s*${name}\\s+(\\S+)`, "gm"))];
      return fromArgs ? fromArgs[1] : lines.length ? lines[lines.length - 1][1] : undefined;
    };
    if (directive("appendonly") !== "yes") p.push(`appendonly is ${directive("appendonly")}, want yes`);
    if (directive("appendfsync") !== "always") p.push(`appendfsync is ${directive("appendfsync")}, want always`);
    const dir = directive("dir");
    if (!dir || !(c.volumeMounts ?? []).some((m) => m.mountPath === dir && (w.obj.spec?.volumeClaimTemplates ?? []).some((t) => t.metadata.name === m.name))) {
      p.push(`Redis dir ${dir} is not the PersistentVolume`);
    }
    if (directive("maxmemory-policy") !== "noeviction") p.push("maxmemory-policy is not noeviction");
    // The same file for every node: the replica Sentinel promotes must
    // refuse writes no replica confirms, as the primary did.
    const mrw = Number(directive("min-replicas-to-write") ?? 0);
    const lag = Number(directive("min-replicas-max-lag") ?? 10);
    if (!(mrw >= 1)) p.push(`min-replicas-to-write is ${directive("min-replicas-to-write") ?? "unset (0)"}, want >= 1`);
    if (!(lag >= 1 && lag <= 10)) p.push(`min-replicas-max-lag is ${lag}, want 1..10 (the worker refuses others)`);
  }
  report("project", "Redis: 3-pod StatefulSet + PVCs, one per node, PDB, appendonly yes, appendfsync always, requirepass, noeviction, min-replicas-to-write", p);
}
{
  // Sentinels: three or more, a majority quorum, one per node, one at a time.
  const p = [];
  const sentinels = workloads.filter((w) => (w.pod.containers ?? []).some(isSentinel));
  if (sentinels.length === 0) p.push("no container runs Redis Sentinel (redis-server --sentinel)");
  for (const w of sentinels) {
    const replicas = w.obj.spec?.replicas ?? 1;
    if (replicas < 3) p.push(`Sentinel is ${replicas} pod(s) of ${id(w.obj)}, want 3 or more`);
    p.push(...spreadProblems(w, "Sentinel"));
    const mon = sentinelMonitor(w);
    if (!mon) p.push(`${id(w.obj)}: no \`sentinel monitor NAME HOST PORT QUORUM\` in its mounted configuration`);
    else {
      if (!(mon.quorum > replicas / 2 && mon.quorum <= replicas)) p.push(`Sentinel quorum is ${mon.quorum} of ${replicas}, want a majority (2 of 3)`);
      if (mon.downAfterMs === undefined) p.push(`Sentinel has no down-after-milliseconds for ${mon.name}`);
      else if (!(mon.downAfterMs >= 1000 && mon.downAfterMs <= 30000)) p.push(`Sentinel down-after-milliseconds is ${mon.downAfterMs}, want 1000..30000`);
    }
  }
  report("project", "Redis Sentinel: 3 pods, one per node, PDB, majority quorum, down-after-milliseconds", p);
}
{
  // MongoDB: a replica set whose member list matches the StatefulSet.
  const p = [];
  const mongo = byKind("StatefulSet").filter((s) => (s.spec?.template?.spec?.containers ?? []).some((c) => /(^|\/)mongo(:|@|$)/.test(c.image.split(":")[0].split("@")[0]) || (c.args ?? [])[0] === "mongod"));
  if (mongo.length === 0) p.push("no MongoDB StatefulSet");
  for (const sts of mongo) {
    const c = sts.spec.template.spec.containers.find((x) => (x.args ?? [])[0] === "mongod");
    if (!c || !(c.args ?? []).includes("--replSet")) p.push(`${id(sts)}: mongod runs without --replSet`);
    if (c && !(c.args ?? []).includes("--keyFile")) p.push(`${id(sts)}: mongod runs without --keyFile (members would not authenticate each other)`);
    const env = c ? resolveEnv(c, p) : new Map();
    const members = (env.get("MONGO_RS_MEMBERS")?.value ?? "").split(",").filter(Boolean);
    const replicas = sts.spec.replicas ?? 1;
    if (members.length !== replicas) p.push(`MONGO_RS_MEMBERS lists ${members.length} member(s), ${id(sts)} has ${replicas} replica(s)`);
    members.forEach((m, i) => {
      if (m !== `${sts.metadata.name}-${i}.${sts.spec.serviceName}:27017`) p.push(`member ${i} is ${m}, want ${sts.metadata.name}-${i}.${sts.spec.serviceName}:27017`);
    });
    const svc = services.get(sts.spec.serviceName);
    if (svc && svc.spec?.publishNotReadyAddresses !== true) p.push(`Service ${svc.metadata.name} does not publish not-ready members (they cannot find each other to form the set)`);
  }
  if (!byKind("Job").some((j) => (j.spec?.template?.spec?.containers ?? []).some((c) => (c.command ?? []).some((a) => /mongo-init/.test(a))))) {
    p.push("no Job runs the replica-set init (mongo-init.js)");
  }
  report("project", "MongoDB: replica set, members match the StatefulSet, init Job", p);
}

// ---- project checks: Services, PDBs, HPAs -----------------------------------------

for (const svc of byKind("Service")) {
  const p = [];
  const pods = selected(svc.spec?.selector ? { matchLabels: svc.spec.selector } : null);
  if (pods.length === 0) p.push("selects no pod");
  for (const sp of svc.spec?.ports ?? []) {
    const target = sp.targetPort ?? sp.port;
    const ok = pods.some((w) => (w.pod.containers ?? []).some((c) => (c.ports ?? []).some((cp) => (typeof target === "number" ? cp.containerPort === target : cp.name === target))));
    if (pods.length && !ok) p.push(`port ${sp.port}: targetPort ${target} is no container port of the selected pods`);
  }
  report("project", `${id(svc)}: selects pods and ports`, p);
}
for (const pdb of byKind("PodDisruptionBudget")) {
  const p = [];
  if (selected(pdb.spec?.selector).length === 0) p.push("selects no pod");
  if (pdb.spec?.minAvailable === undefined && pdb.spec?.maxUnavailable === undefined) p.push("neither minAvailable nor maxUnavailable");
  report("project", `${id(pdb)}: selects pods`, p);
}
for (const w of workloads.filter((x) => x.longRunning && x.obj.kind !== "Pod")) {
  const covered = byKind("PodDisruptionBudget").some((pdb) => selects(pdb.spec?.selector, w.labels));
  report("project", `${id(w.obj)}: has a PodDisruptionBudget`, covered ? [] : ["no PodDisruptionBudget selects its pods"]);
}
for (const hpa of byKind("HorizontalPodAutoscaler")) {
  const p = [];
  const ref = hpa.spec?.scaleTargetRef ?? {};
  const target = docs.find((d) => d.kind === ref.kind && d.metadata?.name === ref.name);
  if (!target) p.push(`scaleTargetRef ${ref.kind}/${ref.name} is not rendered`);
  else if (target.spec?.replicas !== undefined) p.push(`${id(target)} sets replicas: every apply would reset the autoscaler's count`);
  if (target && (hpa.spec?.metrics ?? []).some((m) => m.type === "Resource")) {
    const cs = target.spec?.template?.spec?.containers ?? [];
    for (const m of hpa.spec.metrics.filter((x) => x.type === "Resource")) {
      if (cs.some((c) => !c.resources?.requests?.[m.resource.name])) p.push(`scales on ${m.resource.name} utilization, but a container has no ${m.resource.name} request`);
    }
  }
  if ((hpa.spec?.minReplicas ?? 1) > hpa.spec?.maxReplicas) p.push("minReplicas > maxReplicas");
  report("project", `${id(hpa)}: targets a Deployment it owns`, p);
}

// ---- project checks: Prometheus (ServiceMonitors, PrometheusRule) -------------------

{
  const p = [];
  const monitors = byKind("ServiceMonitor");
  const rules = byKind("PrometheusRule");
  if (monitors.length === 0 && rules.length === 0) {
    notes.push("no ServiceMonitor or PrometheusRule given (--with deploy/k8s/monitoring's rendering checks them)");
  } else {
    // Each ServiceMonitor selects a Service with its endpoint's port; each
    // HTTP program is scraped by one.
    const scraped = new Set();
    for (const sm of monitors) {
      const svcs = [...services.values()].filter((s) => selects(sm.spec?.selector, s.metadata?.labels ?? {}));
      if (svcs.length === 0) p.push(`${id(sm)} selects no Service`);
      for (const e of sm.spec?.endpoints ?? []) {
        for (const s of svcs) {
          if (!(s.spec?.ports ?? []).some((sp) => sp.name === e.port)) p.push(`${id(sm)}: Service ${s.metadata.name} has no port named ${e.port}`);
          for (const w of selected(s.spec?.selector ? { matchLabels: s.spec.selector } : null)) {
            for (const c of w.pod.containers ?? []) if (HTTP_PROGRAMS.includes((c.command ?? [])[0])) scraped.add((c.command ?? [])[0]);
          }
        }
        if (e.path !== "/metrics") p.push(`${id(sm)}: endpoint path ${e.path}, want /metrics`);
      }
    }
    for (const prog of HTTP_PROGRAMS) if (!scraped.has(prog)) p.push(`no ServiceMonitor scrapes ${prog}`);
    // The PrometheusRule holds the plain rules file's groups, and its jobs
    // are Services that exist.
    const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
      : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
    const rulesFile = sourceDir && path.join(sourceDir, "deploy/monitoring/tix.rules.yml");
    const plain = rulesFile && existsSync(rulesFile) ? yaml.load(readFileSync(rulesFile, "utf8")) : null;
    if (rules.length !== 1) p.push(`${rules.length} PrometheusRules, want 1`);
    for (const r of rules) {
      if (!plain) notes.push("no --source: the PrometheusRule is not compared with deploy/monitoring/tix.rules.yml");
      else if (JSON.stringify(sortKeys(r.spec?.groups)) !== JSON.stringify(sortKeys(plain.groups))) p.push(`${id(r)}: its groups differ from deploy/monitoring/tix.rules.yml`);
      const alerts = new Set();
      for (const g of r.spec?.groups ?? []) {
        for (const rule of g.rules ?? []) {
          if (rule.alert) alerts.add(rule.alert);
          for (const m of String(rule.expr ?? "").matchAll(/job\s*=\s*"([^"]+)"/g)) {
            if (!services.has(m[1])) p.push(`${id(r)}: ${rule.alert ?? rule.record} names job ${m[1]}, but no Service (a ServiceMonitor's job) has that name`);
          }
        }
      }
      for (const a of ["TixBrokerDown", "TixBrokerNotReady", "TixNoWorkers", "TixQueueSaturated", "TixPersisterLagGrowing", "TixRedisUnavailable", "TixSinkErrors"]) {
        if (!alerts.has(a)) p.push(`${id(r)}: no alert ${a}`);
      }
    }
  }
  report("project", "Prometheus: a ServiceMonitor for each program, the alert rules as in deploy/monitoring", p);
}

// ---- project checks: the NetworkPolicy matrix ------------------------------------------

{
  const p = [];
  const policies = byKind("NetworkPolicy").filter((np) => (np.spec?.policyTypes ?? ["Ingress"]).includes("Ingress"));
  if (!policies.some((np) => Object.keys(np.spec?.podSelector ?? {}).every((k) => Object.keys(np.spec.podSelector[k] ?? {}).length === 0) && !(np.spec?.ingress ?? []).length)) {
    p.push("no default-deny ingress policy (podSelector {} with no ingress rules)");
  }
  const apps = [...new Set(workloads.map((w) => w.labels[APP]).filter(Boolean))].sort();
  for (const w of workloads) {
    const dest = w.labels[APP];
    const applying = policies.filter((np) => selects(np.spec?.podSelector ?? {}, w.labels));
    const ports = new Set((w.pod.containers ?? []).flatMap((c) => (c.ports ?? []).map((cp) => cp.containerPort)));
    for (const port of ports) {
      let allowed;
      if (applying.length === 0) allowed = new Set(["*"]);
      else {
        allowed = new Set();
        for (const np of applying) {
          for (const rule of np.spec?.ingress ?? []) {
            const portOk = !rule.ports || rule.ports.some((rp) => {
              const c = (w.pod.containers ?? []).flatMap((x) => x.ports ?? []);
              const num = typeof rp.port === "string" ? c.find((cp) => cp.name === rp.port)?.containerPort : rp.port;
              return rp.port === undefined || (num <= port && port <= (rp.endPort ?? num));
            });
            if (!portOk) continue;
            if (!rule.from || rule.from.length === 0) {
              allowed.add("*");
              continue;
            }
            for (const peer of rule.from) {
              // A peer that demands the client label admits labelled pods
              // only (in any namespace its namespaceSelector allows).
              if (peer.podSelector?.matchLabels?.[CLIENT_LABEL] === "true") allowed.add(CLIENT_PEERS);
              else if (peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === PROMETHEUS_NAMESPACE &&
                Object.keys(peer.namespaceSelector).length === 1 && !peer.namespaceSelector.matchExpressions &&
                peer.podSelector?.matchLabels?.[APP] === "prometheus") allowed.add(PROMETHEUS_PEERS);
              else if (peer.ipBlock || peer.namespaceSelector) allowed.add("*");
              else for (const a of apps) if (workloads.some((x) => x.labels[APP] === a && selects(peer.podSelector, x.labels))) allowed.add(a);
            }
          }
        }
      }
      const want = EXPECTED_INGRESS[`${dest}:${port}`] ?? [];
      const got = allowed.has("*") ? ["*"] : [...allowed].sort();
      if (JSON.stringify(got) !== JSON.stringify([...want].sort())) {
        p.push(`${dest}:${port} is open to [${got.join(", ") || "no one"}], want [${want.join(", ") || "no one"}]`);
      }
    }
  }
  for (const np of byKind("NetworkPolicy")) {
    if (Object.keys(np.spec?.podSelector?.matchLabels ?? {}).length && selected(np.spec.podSelector).length === 0) p.push(`${id(np)} selects no pod`);
  }
  if (byKind("NetworkPolicy").length === 0) p.push("no NetworkPolicy at all: every pod can reach every port");
  report("project", "NetworkPolicies allow exactly the documented flows", p);
}

// ---- project checks: CURVE ------------------------------------------------------------

// Where the file at path comes from in workload w's container c: "secret"
// (a Secret volume, or a projected one made of Secrets), "copy" (a volume
// an init container fills from a Secret volume it mounts), or what it is.
function keySource(w, c, file) {
  const m = (c.volumeMounts ?? []).filter((x) => file === x.mountPath || file.startsWith(`${x.mountPath.replace(/\/$/, "")}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!m) return "the root filesystem (no volume)";
  const vol = (w.pod.volumes ?? []).find((v) => v.name === m.name);
  const fromSecret = (v) => v?.secret || (v?.projected && (v.projected.sources ?? []).length && v.projected.sources.every((s) => s.secret));
  if (fromSecret(vol)) return "secret";
  if (vol?.emptyDir) {
    const filled = (w.pod.initContainers ?? []).some((ic) => (ic.volumeMounts ?? []).some((x) => x.name === m.name && !x.readOnly) &&
      (ic.volumeMounts ?? []).some((x) => fromSecret((w.pod.volumes ?? []).find((v) => v.name === x.name))));
    return filled ? "copy" : "an emptyDir no init container fills from a Secret";
  }
  return `volume ${m.name}, not a Secret`;
}

const TRUE_WORDS = ["1", "true", "yes"];
{
  const p = [];
  for (const w of workloads) {
    for (const c of w.pod.containers ?? []) {
      const prog = (c.command ?? [])[0];
      if (!["tix-broker", "tix-worker", "tix-persister"].includes(prog)) continue;
      const env = resolveEnv(c, []);
      const val = (v) => env.get(v)?.value ?? "";
      const args = [...(c.command ?? []).slice(1), ...(c.args ?? [])];
      const vars = prog === "tix-broker" ? ["TIX_CURVE_SECRET", "TIX_CURVE_CLIENTS", "TIX_CURVE_WORKERS", "TIX_CURVE_SUBSCRIBERS"] : ["TIX_CURVE_SECRET", "TIX_CURVE_SERVER_KEY"];
      if (prog === "tix-broker" && !TRUE_WORDS.includes(val("TIX_CURVE")) && !args.includes("--curve")) {
        p.push(`CURVE is off for ${id(w.obj)} (${prog}): TIX_CURVE is "${val("TIX_CURVE")}", want 1`);
      }
      for (const v of vars) {
        if (!val(v)) {
          p.push(`CURVE: ${id(w.obj)} (${prog}) has no ${v}`);
          continue;
        }
        const src = keySource(w, c, val(v));
        if (src !== "secret" && src !== "copy") p.push(`CURVE: ${id(w.obj)} ${v}=${val(v)} comes from ${src}`);
      }
      // The readiness probe of a CURVE broker must bring keys of its own.
      const probe = c.readinessProbe?.exec?.command ?? [];
      if (prog === "tix-broker" && probe[0] === "tix" && !(probe.includes("--curve-secret") && probe.includes("--curve-server-key"))) {
        p.push(`CURVE: ${id(w.obj)} readinessProbe runs tix without --curve-secret and --curve-server-key: the broker would refuse it`);
      }
    }
  }
  report("project", "CURVE on: the broker, workers and persister hold keys from Secrets", p);
}

// ---- summary ------------------------------------------------------------------------------

for (const n of [...new Set(notes)]) console.log(`note ${n}`);
const s = tally.schema;
const q = tally.project;
console.log(`validate ${renderedFile}: schema ${s.pass} passed, ${s.fail} failed; project ${q.pass} passed, ${q.fail} failed`);
process.exit((s.fail ? 1 : 0) | (q.fail ? 2 : 0));
