// Captures real A2A JSON-RPC wire traffic.
//
// Backend: @a2a-js/sdk 1.3.0 express server (jsonRpcHandler + agentCardHandler,
// legacyCompat enabled so it also answers v0.3 callers).
// In front of it: a recording HTTP proxy that stores raw request and response
// bodies (SSE bodies are recorded event by event).
// Clients: @a2a-js/sdk 1.3.0 ClientFactory WITHOUT legacyCompat (speaks 1.0),
// then @a2a-js/sdk 0.3.14 ClientFactory (speaks 0.3), running the same script.
//
// Usage (see README.md): node capture.mjs OUTDIR
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import express from "express";
import {
  AgentEvent,
  DefaultRequestHandler,
  InMemoryTaskStore,
} from "@a2a-js/sdk/server";
import { jsonRpcHandler, agentCardHandler, UserBuilder } from "@a2a-js/sdk/server/express";
import { ClientFactory, withA2AExtensions, ServiceParameters } from "@a2a-js/sdk/client";
import { AgentCard as AgentCardPB } from "@a2a-js/sdk";

const outDir = process.argv[2] ?? "/tmp/a2ajs/out";
fs.mkdirSync(outDir, { recursive: true });

// Deterministic UUIDs so that the 1.0 run and the 0.3 run produce the same IDs.
let uuidCounter = 0;
crypto.randomUUID = () => `00000000-0000-4000-8000-${String(++uuidCounter).padStart(12, "0")}`;

const TS = "2026-01-02T03:04:05.000Z";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function textPart(t) {
  return { content: { $case: "text", value: t }, metadata: undefined, filename: "", mediaType: "" };
}
function agentMessage(id, taskId, contextId, parts) {
  return { messageId: id, contextId, taskId, role: 2 /* ROLE_AGENT */, parts, metadata: undefined, extensions: [], referenceTaskIds: [] };
}

const executor = {
  async execute(rc, bus) {
    const msg = rc.userMessage;
    const first = msg.parts.find((p) => p.content?.$case === "text");
    const cmd = first ? first.content.value : "";
    const taskId = rc.taskId;
    const contextId = rc.contextId;
    if (cmd === "reply-with-message") {
      bus.publish(AgentEvent.message(agentMessage("agent-msg-1", "", contextId, [
        textPart("plain reply"),
        { content: { $case: "data", value: { answer: 42, tags: ["a", "b"] } }, metadata: { schema: "answer" }, filename: "", mediaType: "" },
      ])));
      return;
    }
    const task = {
      id: taskId,
      contextId,
      status: { state: 1 /* SUBMITTED */, message: undefined, timestamp: TS },
      artifacts: [],
      history: [msg],
      metadata: { origin: "capture" },
    };
    if (!rc.task) bus.publish(AgentEvent.task(task));
    else bus.publish(AgentEvent.task({ ...rc.task, history: [...(rc.task.history ?? [])] }));
    if (cmd === "need-input") {
      bus.publish(AgentEvent.statusUpdate({
        taskId, contextId, metadata: undefined,
        status: { state: 6 /* INPUT_REQUIRED */, message: agentMessage("agent-msg-input", taskId, contextId, [textPart("Which account?")]), timestamp: TS },
      }));
      return;
    }
    bus.publish(AgentEvent.statusUpdate({
      taskId, contextId, metadata: undefined,
      status: { state: 2 /* WORKING */, message: agentMessage("agent-msg-working", taskId, contextId, [textPart("Working...")]), timestamp: TS },
    }));
    if (cmd === "slow") await sleep(400);
    bus.publish(AgentEvent.artifactUpdate({
      taskId, contextId, append: false, lastChunk: true, metadata: undefined,
      artifact: {
        artifactId: "artifact-1", name: "result", description: "the result", extensions: [], metadata: { source: "capture" },
        parts: [
          textPart("result text"),
          { content: { $case: "data", value: { answer: 42, nested: { ok: true } } }, metadata: undefined, filename: "", mediaType: "" },
          { content: { $case: "data", value: [1, 2, 3] }, metadata: undefined, filename: "", mediaType: "" },
          { content: { $case: "url", value: "https://example.com/report.pdf" }, metadata: undefined, filename: "report.pdf", mediaType: "application/pdf" },
          { content: { $case: "raw", value: Buffer.from("hello bytes") }, metadata: { enc: "b64" }, filename: "hello.txt", mediaType: "text/plain" },
        ],
      },
    }));
    bus.publish(AgentEvent.statusUpdate({
      taskId, contextId, metadata: { final: "yes" },
      status: { state: 3 /* COMPLETED */, message: agentMessage("agent-msg-done", taskId, contextId, [textPart("Done")]), timestamp: TS },
    }));
  },
  async cancelTask(taskId, bus) {
    bus.publish(AgentEvent.statusUpdate({
      taskId, contextId: "", metadata: undefined,
      status: { state: 5 /* CANCELED */, message: undefined, timestamp: TS },
    }));
  },
};

// ---------------------------------------------------------------- proxy
const HEADER_KEEP = ["a2a-version", "a2a-extensions", "x-a2a-extensions", "content-type", "accept"];
function pickHeaders(h) {
  const out = {};
  for (const k of HEADER_KEEP) if (h[k] !== undefined) out[k] = h[k];
  return out;
}
function parseSSE(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    const ev = block.split(/\r?\n/).find((l) => l.startsWith("event:"));
    if (data) events.push(ev ? { event: ev.slice(6).trim(), data: JSON.parse(data) } : { data: JSON.parse(data) });
  }
  return events;
}

let records = [];
let backendPort = 0;
const proxy = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const rec = { request: { method: req.method, path: req.url, headers: pickHeaders(req.headers) } };
    if (body.length) rec.request.body = JSON.parse(body.toString("utf8"));
    const up = http.request({ host: "127.0.0.1", port: backendPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      const rchunks = [];
      ur.on("data", (c) => { rchunks.push(c); res.write(c); });
      ur.on("end", () => {
        res.end();
        const text = Buffer.concat(rchunks).toString("utf8");
        rec.response = { status: ur.statusCode, headers: { "content-type": ur.headers["content-type"] } };
        if ((ur.headers["content-type"] ?? "").startsWith("text/event-stream")) rec.response.sse = parseSSE(text);
        else if (text) rec.response.body = JSON.parse(text);
        records.push(rec);
      });
    });
    up.end(body);
  });
});
await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
const proxyBase = `http://127.0.0.1:${proxy.address().port}`;

// ---------------------------------------------------------------- backend
function coreCard() {
  return {
    name: "Capture Agent",
    description: "Agent used to capture A2A wire examples",
    supportedInterfaces: [
      { url: `${proxyBase}/a2a`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" },
      { url: `${proxyBase}/a2a`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "0.3" },
    ],
    provider: { url: "https://example.com", organization: "Example Org" },
    version: "1.2.3",
    documentationUrl: "https://example.com/docs",
    capabilities: { streaming: true, pushNotifications: true, extensions: [{ uri: "urn:example:ext", description: "an extension", required: false, params: undefined }], extendedAgentCard: true },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["text/plain", "application/json"],
    skills: [{ id: "echo", name: "Echo", description: "Echoes things", tags: ["echo", "test"], examples: ["hello"], inputModes: [], outputModes: [], securityRequirements: [] }],
    signatures: [],
    iconUrl: undefined,
  };
}

let backend;
async function startBackend() {
  uuidCounter = 0;
  const card = coreCard();
  const extended = { ...coreCard(), description: "Extended card", skills: [...card.skills, { id: "secret", name: "Secret", description: "Only for authenticated callers", tags: ["x"], examples: [], inputModes: [], outputModes: [], securityRequirements: [] }] };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor, undefined, undefined, undefined, () => extended);
  const app = express();
  app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler, legacyCompat: { enabled: true }, cache: { maxAge: 0 } }));
  app.use("/a2a", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication, legacyCompat: { enabled: true } }));
  backend = http.createServer(app);
  await new Promise((r) => backend.listen(0, "127.0.0.1", r));
  backendPort = backend.address().port;
}
async function stopBackend() {
  backend.closeAllConnections?.();
  await new Promise((r) => backend.close(r));
}

function save(prefix) {
  const names = {};
  for (const rec of records) {
    let name;
    if (rec.request.method === "GET") name = "card";
    else name = rec.request.body?.method ?? "unknown";
    name = name.replace(/\//g, "_");
    const label = rec.label ? `${name}.${rec.label}` : name;
    names[label] = (names[label] ?? 0) + 1;
    const file = names[label] > 1 ? `${prefix}.${label}.${names[label]}.json` : `${prefix}.${label}.json`;
    fs.writeFileSync(path.join(outDir, file), JSON.stringify(rec, null, 2) + "\n");
  }
  records = [];
}
// step runs one client call and labels the exchanges it produced (a label
// becomes part of the file name).
function labelled(fn) {
  return async (l, ...args) => {
    const before = records.length;
    try {
      return await fn(...args);
    } catch (e) {
      console.log(`  [${l}] error: ${e.name}: ${e.message}`);
      return undefined;
    } finally {
      await sleep(50);
      for (let i = before; i < records.length; i++) records[i].label = l;
    }
  };
}
const step = labelled(async (f) => f());

// ---------------------------------------------------------------- v1.0 run
async function run10() {
  await startBackend();
  const factory = new ClientFactory();
  const client = await step("", () => factory.createFromUrl(proxyBase));
  const userMsg = (id, parts, extra = {}) => ({ messageId: id, contextId: "", taskId: "", role: 1, parts, metadata: undefined, extensions: [], referenceTaskIds: [], ...extra });

  await step("task", () => client.sendMessage({
    tenant: "",
    message: userMsg("msg-1", [
      textPart("run"),
      { content: { $case: "data", value: { tool: "get_ticket", arguments: { id: "T-1" } } }, metadata: undefined, filename: "", mediaType: "" },
      { content: { $case: "url", value: "https://example.com/in.png" }, metadata: undefined, filename: "in.png", mediaType: "image/png" },
      { content: { $case: "raw", value: Buffer.from("raw input") }, metadata: undefined, filename: "in.bin", mediaType: "application/octet-stream" },
    ], { metadata: { traceId: "abc" } }),
    configuration: { acceptedOutputModes: ["text/plain"], historyLength: 5, returnImmediately: false, taskPushNotificationConfig: undefined },
    metadata: { requestMeta: 1 },
  }));
  await step("message", () => client.sendMessage({ tenant: "", message: userMsg("msg-2", [textPart("reply-with-message")]), configuration: undefined, metadata: undefined },
    { serviceParameters: ServiceParameters.create(withA2AExtensions("urn:example:ext")) }));
  await step("datavalue", () => client.sendMessage({ tenant: "", message: userMsg("msg-3", [textPart("reply-with-message"), { content: { $case: "data", value: ["x", 1, null] }, metadata: undefined, filename: "", mediaType: "" }, { content: { $case: "data", value: "just a string" }, metadata: { m: 1 }, filename: "", mediaType: "" }]), configuration: undefined, metadata: undefined }));
  const streamEvents = [];
  await step("stream", async () => { for await (const ev of client.sendMessageStream({ tenant: "", message: userMsg("msg-4", [textPart("stream me")]), configuration: undefined, metadata: undefined })) streamEvents.push(ev); });
  const taskId = streamEvents[0]?.payload?.value?.id;
  await step("", () => client.getTask({ tenant: "", id: taskId, historyLength: 10 }));
  await step("notfound", () => client.getTask({ tenant: "", id: "no-such-task", historyLength: undefined }));
  await step("notcancelable", () => client.cancelTask({ tenant: "", id: taskId, metadata: undefined }));
  const input = await step("input", () => client.sendMessage({ tenant: "", message: userMsg("msg-5", [textPart("need-input")]), configuration: undefined, metadata: undefined }));
  const inputId = input?.id;
  await step("", () => client.createTaskPushNotificationConfig({ tenant: "", taskId: inputId, id: "cfg-1", url: "https://hooks.example.com/a2a", token: "tok-1", authentication: { scheme: "Bearer", credentials: "secret" } }));
  await step("", () => client.getTaskPushNotificationConfig({ tenant: "", taskId: inputId, id: "cfg-1" }));
  await step("", () => client.listTaskPushNotificationConfig({ tenant: "", taskId: inputId, pageSize: 0, pageToken: "" }));
  await step("", () => client.deleteTaskPushNotificationConfig({ tenant: "", taskId: inputId, id: "cfg-1" }));
  await step("", () => client.cancelTask({ tenant: "", id: inputId, metadata: { reason: "user" } }));
  const slow = await step("slow", () => client.sendMessage({ tenant: "", message: userMsg("msg-6", [textPart("slow")]), configuration: { acceptedOutputModes: [], returnImmediately: true, historyLength: undefined, taskPushNotificationConfig: undefined }, metadata: undefined }));
  await step("", async () => { for await (const ev of client.resubscribeTask({ tenant: "", id: slow.id })) void ev; });
  await step("", () => client.listTasks({ tenant: "", contextId: "", status: 3, pageSize: 10, pageToken: "", historyLength: 1, statusTimestampAfter: undefined, includeArtifacts: true }));
  await step("", () => client.getAgentCard());
  await stopBackend();
  save("v10");
}

// ---------------------------------------------------------------- v0.3 run
async function run03() {
  const sdk03 = await import(process.env.A2AJS03_CLIENT ?? "/tmp/a2ajs03/node_modules/@a2a-js/sdk/dist/client/index.js");
  await startBackend();
  const factory = new sdk03.ClientFactory();
  const client = await step("", () => factory.createFromUrl(proxyBase));
  const userMsg = (id, parts, extra = {}) => ({ kind: "message", messageId: id, role: "user", parts, ...extra });
  const tp = (t) => ({ kind: "text", text: t });
  await step("task", () => client.sendMessage({
    message: userMsg("msg-1", [
      tp("run"),
      { kind: "data", data: { tool: "get_ticket", arguments: { id: "T-1" } } },
      { kind: "file", file: { uri: "https://example.com/in.png", name: "in.png", mimeType: "image/png" } },
      { kind: "file", file: { bytes: Buffer.from("raw input").toString("base64"), name: "in.bin", mimeType: "application/octet-stream" } },
    ], { metadata: { traceId: "abc" } }),
    configuration: { acceptedOutputModes: ["text/plain"], historyLength: 5, blocking: true },
    metadata: { requestMeta: 1 },
  }));
  await step("message", () => client.sendMessage({ message: userMsg("msg-2", [tp("reply-with-message")]) },
    { serviceParameters: sdk03.ServiceParameters.create(sdk03.withA2AExtensions("urn:example:ext")) }));
  await step("datavalue", () => client.sendMessage({ message: userMsg("msg-3", [tp("reply-with-message"), { kind: "data", data: { value: ["x", 1, null] }, metadata: { data_part_compat: true } }, { kind: "data", data: { value: "just a string" }, metadata: { m: 1, data_part_compat: true } }]) }));
  const streamEvents = [];
  await step("stream", async () => { for await (const ev of client.sendMessageStream({ message: userMsg("msg-4", [tp("stream me")]) })) streamEvents.push(ev); });
  const taskId = streamEvents[0]?.id;
  await step("", () => client.getTask({ id: taskId, historyLength: 10 }));
  await step("notfound", () => client.getTask({ id: "no-such-task" }));
  await step("notcancelable", () => client.cancelTask({ id: taskId }));
  const input = await step("input", () => client.sendMessage({ message: userMsg("msg-5", [tp("need-input")]) }));
  const inputId = input?.id;
  await step("", () => client.setTaskPushNotificationConfig({ taskId: inputId, pushNotificationConfig: { id: "cfg-1", url: "https://hooks.example.com/a2a", token: "tok-1", authentication: { schemes: ["Bearer"], credentials: "secret" } } }));
  await step("", () => client.getTaskPushNotificationConfig({ id: inputId, pushNotificationConfigId: "cfg-1" }));
  await step("", () => client.listTaskPushNotificationConfig({ id: inputId }));
  await step("", () => client.deleteTaskPushNotificationConfig({ id: inputId, pushNotificationConfigId: "cfg-1" }));
  await step("", () => client.cancelTask({ id: inputId, metadata: { reason: "user" } }));
  const slow = await step("slow", () => client.sendMessage({ message: userMsg("msg-6", [tp("slow")]), configuration: { acceptedOutputModes: [], blocking: false } }));
  await step("", async () => { for await (const ev of client.resubscribeTask({ id: slow.id })) void ev; });
  await step("", () => client.getAgentCard());
  await stopBackend();
  save("v03");
}

// A v1.0 agent card with security schemes, serialized by the SDK's own proto-JSON
// serializer (AgentCard.toJSON), as a 1.0 card-document example.
function cardWithSecurity() {
  const c = coreCard();
  c.supportedInterfaces = [
    { url: "https://agent.example.com/a2a", protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" },
    { url: "agent.example.com:50051", protocolBinding: "GRPC", tenant: "", protocolVersion: "1.0" },
  ];
  c.securitySchemes = {
    oidc: { scheme: { $case: "openIdConnectSecurityScheme", value: { description: "OIDC", openIdConnectUrl: "https://id.example.com/.well-known/openid-configuration" } } },
    bearer: { scheme: { $case: "httpAuthSecurityScheme", value: { description: "", scheme: "Bearer", bearerFormat: "JWT" } } },
    apikey: { scheme: { $case: "apiKeySecurityScheme", value: { description: "", location: "header", name: "X-API-Key" } } },
    oauth: { scheme: { $case: "oauth2SecurityScheme", value: { description: "", oauth2MetadataUrl: "", flows: { flow: { $case: "clientCredentials", value: { tokenUrl: "https://id.example.com/token", refreshUrl: "", scopes: { "a2a.read": "read" } } } } } } },
  };
  c.securityRequirements = [{ schemes: { oidc: { list: ["openid", "a2a"] } } }, { schemes: { bearer: { list: [] } } }];
  c.skills[0].securityRequirements = [{ schemes: { apikey: { list: [] } } }];
  return AgentCardPB.toJSON(c);
}

await run10();
await run03();
fs.writeFileSync(path.join(outDir, "v10.card-document.json"), JSON.stringify({ source: "AgentCard.toJSON (@a2a-js/sdk 1.3.0)", card: cardWithSecurity() }, null, 2) + "\n");
proxy.close();
console.log("done:", fs.readdirSync(outDir).length, "files in", outDir);
process.exit(0);
