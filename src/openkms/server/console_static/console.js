// OpenKMS web console: one hand-written script, no library, no build step.
//
// Every call goes to the ordinary endpoint (POST / on this origin) signed with AWS
// Signature Version 4 by this script (WebCrypto: SHA-256 and HMAC-SHA256), exactly as an
// AWS SDK would sign it: the server verifies it and authorizes the caller's credentials,
// so the console can see and do only what those credentials may. The access key pair
// is kept in sessionStorage (this tab only; cleared on sign-out) and never sent.
// Values from the server (descriptions, aliases, tags, records) are inserted as text,
// never as markup.
"use strict";

(function () {
  const STORE = "openkms-console-credentials";
  const KMS = "TrentService.";
  const LOOKUP = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
  const JSON_TYPE = "application/x-amz-json-1.1";
  const ACTIONS = [
    "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:Sign", "kms:Verify",
    "kms:GenerateMac", "kms:VerifyMac", "kms:GetPublicKey", "kms:DescribeKey",
    "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:CreateGrant", "kms:ListGrants",
    "kms:RevokeGrant", "kms:RetireGrant", "kms:EnableKey", "kms:DisableKey",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:EnableKeyRotation",
    "kms:DisableKeyRotation", "kms:GetKeyRotationStatus", "kms:RotateKeyOnDemand",
    "kms:TagResource", "kms:UntagResource", "kms:ListResourceTags", "kms:UpdateKeyDescription",
  ];
  const CHART_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#7f7f7f"];

  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();

  // ---- DOM helpers: children are nodes or strings (always text nodes) ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children.flat(Infinity)) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function table(headings, rows) {
    return el("table", {},
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length, class: "muted" }, "None."))]));
  }

  function when(epochSeconds) {
    if (epochSeconds === undefined || epochSeconds === null) return "";
    return new Date(epochSeconds * 1000).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
  }

  function showError(err) {
    const box = $("error");
    box.textContent = err instanceof ApiError ? `${err.type}: ${err.message}` : String(err && err.message || err);
    box.hidden = false;
  }

  function clearError() { $("error").hidden = true; $("error").textContent = ""; }

  // ---- Signature Version 4 ----

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sha256(text) {
    return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  }

  async function hmac(key, text) {
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(text)));
  }

  class ApiError extends Error {
    constructor(type, message, status) { super(message); this.type = type; this.status = status; }
  }

  async function signedFetch(creds, service, target, contentType, body) {
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const headers = { "content-type": contentType, host: location.host, "x-amz-date": amzDate };
    if (target) headers["x-amz-target"] = target;
    if (creds.token) headers["x-amz-security-token"] = creds.token;
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(";");
    const canonical = ["POST", "/", "", names.map((n) => `${n}:${headers[n].trim()}\n`).join(""),
      signedHeaders, await sha256(body)].join("\n");
    const scope = `${day}/${creds.region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
    let key = await hmac(encoder.encode("AWS4" + creds.secret), day);
    for (const part of [creds.region, service, "aws4_request"]) key = await hmac(key, part);
    const signature = hex(await hmac(key, toSign));
    delete headers.host; // the browser sends it (and signs the same value: this origin)
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return fetch("/", { method: "POST", headers, body, credentials: "omit", cache: "no-store" });
  }

  async function callJSON(service, target, params) {
    const creds = credentials();
    if (!creds) throw new ApiError("NotSignedIn", "Sign in first.", 0);
    const response = await signedFetch(creds, service, target, JSON_TYPE, JSON.stringify(params || {}));
    const text = await response.text();
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
    if (!response.ok) {
      const type = String(data.__type || "Error").split("#").pop();
      throw new ApiError(type, data.message || data.Message || response.statusText, response.status);
    }
    return data;
  }

  const kms = (operation, params) => callJSON("kms", KMS + operation, params);
  const openkms = (operation, params) => callJSON("kms", "OpenKMS." + operation, params);
  const lookupEvents = (params) => callJSON("cloudtrail", LOOKUP, params);

  async function callerIdentity(creds) {
    const body = "Action=GetCallerIdentity&Version=2011-06-15";
    const response = await signedFetch(creds, "sts", null, "application/x-www-form-urlencoded", body);
    const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
    const field = (name) => { const n = xml.getElementsByTagName(name)[0]; return n ? n.textContent : ""; };
    if (!response.ok) throw new ApiError(field("Code") || "Error", field("Message") || response.statusText, response.status);
    return { arn: field("Arn"), account: field("Account"), userId: field("UserId") };
  }

  // ---- credentials (this tab only) ----

  function credentials() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }

  async function signIn(event) {
    event.preventDefault();
    clearError();
    const creds = {
      accessKey: $("access-key").value.trim(),
      secret: $("secret-key").value,
      token: $("session-token").value.trim() || null,
      region: $("region").value.trim() || "us-east-1",
    };
    try {
      creds.identity = await callerIdentity(creds);
    } catch (err) {
      showError(err);
      return;
    }
    sessionStorage.setItem(STORE, JSON.stringify(creds));
    $("secret-key").value = "";
    if (!location.hash || location.hash === "#login") location.hash = "#keys";
    route();
  }

  function signOut() {
    sessionStorage.removeItem(STORE);
    location.hash = "";
    route();
  }

  // ---- shared loaders ----

  async function allPages(call, listName, params, markerIn, markerOut) {
    const out = [];
    let marker;
    for (let page = 0; page < 100; page++) {
      const answer = await call(Object.assign({}, params, marker ? { [markerIn]: marker } : {}));
      out.push(...(answer[listName] || []));
      marker = answer[markerOut];
      if (!marker || answer.Truncated === false) break;
    }
    return out;
  }

  async function inBatches(items, size, work) {
    const results = [];
    for (let i = 0; i < items.length; i += size) {
      results.push(...await Promise.all(items.slice(i, i + size).map(work)));
    }
    return results;
  }

  const settle = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

  function shortError(error) {
    return el("span", { class: "bad", title: error.message }, error.type || "Error");
  }

  async function loadAliases() {
    const aliases = await allPages((p) => kms("ListAliases", p), "Aliases", { Limit: 100 }, "Marker", "NextMarker");
    const byKey = new Map();
    for (const alias of aliases) {
      if (!alias.TargetKeyId) continue;
      if (!byKey.has(alias.TargetKeyId)) byKey.set(alias.TargetKeyId, []);
      byKey.get(alias.TargetKeyId).push(alias.AliasName);
    }
    return byKey;
  }

  async function loadKeys() {
    const keys = await allPages((p) => kms("ListKeys", p), "Keys", { Limit: 100 }, "Marker", "NextMarker");
    return inBatches(keys, 4, async (k) => {
      const described = await settle(kms("DescribeKey", { KeyId: k.KeyId }));
      return { id: k.KeyId, arn: k.KeyArn, meta: described.value && described.value.KeyMetadata, error: described.error };
    });
  }

  function rotationCell(meta, answer) {
    if (!meta || meta.KeySpec !== "SYMMETRIC_DEFAULT" || meta.KeyManager !== "CUSTOMER" || meta.Origin !== "AWS_KMS") {
      return el("span", { class: "muted" }, "n/a");
    }
    if (answer.error) return shortError(answer.error);
    const r = answer.value;
    if (!r.KeyRotationEnabled) return el("span", {}, "off");
    const next = r.NextRotationDate ? `, next ${when(r.NextRotationDate).slice(0, 10)}` : "";
    return el("span", { class: "ok" }, `on (${r.RotationPeriodInDays} d${next})`);
  }

  function stateBadge(state) {
    const cls = state === "Enabled" ? "ok" : state === "PendingDeletion" || state === "Unavailable" ? "bad" : "warn";
    return el("span", { class: `badge ${cls}` }, state || "?");
  }

  function tagText(answer) {
    if (answer.error) return shortError(answer.error);
    const tags = answer.value.Tags || [];
    return tags.length ? tags.map((t) => `${t.TagKey}=${t.TagValue}`).join(", ") : el("span", { class: "muted" }, "none");
  }

  // ---- pages ----

  async function keysPage(page) {
    page.append(el("h2", {}, "Keys"));
    const [keys, aliases] = await Promise.all([loadKeys(), loadAliases()]);
    const rows = await inBatches(keys, 4, async (key) => {
      const meta = key.meta;
      const customer = meta && meta.KeyManager === "CUSTOMER";
      const [tags, rotation] = await Promise.all([
        customer ? settle(kms("ListResourceTags", { KeyId: key.id })) : Promise.resolve({ value: { Tags: [] } }),
        customer && meta.KeySpec === "SYMMETRIC_DEFAULT" && meta.Origin === "AWS_KMS"
          ? settle(kms("GetKeyRotationStatus", { KeyId: key.id })) : Promise.resolve({ value: {} }),
      ]);
      return el("tr", { "data-key-id": key.id },
        el("td", { class: "mono" }, el("a", { href: `#key/${encodeURIComponent(key.id)}` }, key.id)),
        el("td", {}, (aliases.get(key.id) || []).join(", ")),
        el("td", {}, meta ? stateBadge(meta.KeyState) : shortError(key.error)),
        el("td", {}, meta ? meta.KeySpec : ""),
        el("td", {}, meta ? meta.KeyUsage : ""),
        el("td", {}, meta ? meta.KeyManager : ""),
        el("td", {}, rotationCell(meta, rotation)),
        el("td", {}, tagText(tags)),
        el("td", {}, meta ? meta.Description || "" : ""),
        el("td", {}, meta ? when(meta.CreationDate) : ""));
    });
    page.append(el("p", { class: "muted" }, `${keys.length} keys in ${credentials().region}.`),
      table(["Key ID", "Aliases", "State", "Spec", "Usage", "Manager", "Rotation", "Tags", "Description", "Created"], rows));
  }

  function grantRows(grants, withKey) {
    return grants.map((g) => el("tr", {},
      withKey ? el("td", { class: "mono" }, el("a", { href: `#key/${encodeURIComponent(g.KeyId.split("/").pop())}` }, g.KeyId.split("/").pop())) : null,
      el("td", { class: "mono", title: g.GrantId }, g.GrantId.slice(0, 16) + "…"),
      el("td", {}, g.Name || ""),
      el("td", { class: "mono" }, g.GranteePrincipal || ""),
      el("td", { class: "mono" }, g.RetiringPrincipal || ""),
      el("td", {}, (g.Operations || []).join(", ")),
      el("td", { class: "mono" }, g.Constraints ? JSON.stringify(g.Constraints) : ""),
      el("td", {}, when(g.CreationDate))));
  }

  const GRANT_HEADINGS = ["Grant ID", "Name", "Grantee", "Retiring principal", "Operations", "Constraints", "Created"];

  async function keyPage(page, keyId) {
    const described = await kms("DescribeKey", { KeyId: keyId });
    const meta = described.KeyMetadata;
    const customer = meta.KeyManager === "CUSTOMER";
    const [aliases, tags, rotation, policy, grants] = await Promise.all([
      loadAliases(),
      customer ? settle(kms("ListResourceTags", { KeyId: meta.KeyId })) : Promise.resolve({ value: { Tags: [] } }),
      customer && meta.KeySpec === "SYMMETRIC_DEFAULT" && meta.Origin === "AWS_KMS"
        ? settle(kms("GetKeyRotationStatus", { KeyId: meta.KeyId })) : Promise.resolve({ value: {} }),
      settle(kms("GetKeyPolicy", { KeyId: meta.KeyId, PolicyName: "default" })),
      settle(allPages((p) => kms("ListGrants", p), "Grants", { KeyId: meta.KeyId, Limit: 100 }, "Marker", "NextMarker")),
    ]);
    const fields = [
      ["Key ID", meta.KeyId], ["ARN", meta.Arn], ["State", stateBadge(meta.KeyState)],
      ["Spec", meta.KeySpec], ["Usage", meta.KeyUsage], ["Origin", meta.Origin],
      ["Manager", meta.KeyManager], ["Aliases", (aliases.get(meta.KeyId) || []).join(", ") || "none"],
      ["Tags", tagText(tags)], ["Rotation", rotationCell(meta, rotation)],
      ["Description", meta.Description || ""], ["Created", when(meta.CreationDate)],
    ];
    if (meta.DeletionDate) fields.push(["Deletion date", when(meta.DeletionDate)]);
    if (meta.MultiRegion) fields.push(["Multi-Region", meta.MultiRegionConfiguration ? meta.MultiRegionConfiguration.MultiRegionKeyType : "yes"]);
    page.append(el("h2", {}, "Key ", el("span", { class: "mono" }, meta.KeyId)),
      el("dl", { class: "meta" }, fields.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));

    page.append(el("h3", {}, "Key policy"));
    if (policy.error) page.append(el("p", {}, shortError(policy.error), " ", policy.error.message));
    else page.append(el("pre", { id: "key-policy" }, JSON.stringify(JSON.parse(policy.value.Policy), null, 2)));

    page.append(el("h3", {}, "Explain access"), explainForm(meta));

    page.append(el("h3", {}, "Grants"));
    if (grants.error) page.append(el("p", {}, shortError(grants.error), " ", grants.error.message));
    else page.append(table(GRANT_HEADINGS, grantRows(grants.value, false)));
  }

  function explainForm(meta) {
    const me = credentials().identity;
    const options = el("datalist", { id: "actions" }, ACTIONS.map((a) => el("option", { value: a })));
    const out = el("div", { id: "explain-result" });
    const form = el("form", { class: "inline", id: "explain-form" },
      el("label", {}, "Principal ARN", el("input", { id: "explain-principal", value: me ? me.arn : "", size: 60, spellcheck: "false" })),
      el("label", {}, "Action", el("input", { id: "explain-action", value: "kms:Decrypt", list: "actions", spellcheck: "false" })),
      el("label", {}, "Encryption context (k=v, ...)", el("input", { id: "explain-context", spellcheck: "false" })),
      el("button", { type: "submit" }, "Explain"), options);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      out.replaceChildren(el("p", { class: "muted" }, "Evaluating…"));
      const context = {};
      for (const pair of $("explain-context").value.split(",")) {
        const at = pair.indexOf("=");
        if (at > 0) context[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
      }
      try {
        const answer = await openkms("ExplainAccess", {
          Principal: $("explain-principal").value.trim(), Action: $("explain-action").value.trim(),
          KeyId: meta.Arn, EncryptionContext: context,
        });
        out.replaceChildren(
          el("p", {}, el("span", { class: `badge ${answer.Allowed ? "ok" : "bad"}`, id: "explain-verdict" }, answer.Allowed ? "ALLOWED" : "DENIED")),
          el("pre", {}, answer.Explanation));
      } catch (err) {
        out.replaceChildren(el("p", { class: "bad", id: "explain-verdict" }, `${err.type || "Error"}: ${err.message}`));
      }
    });
    return el("div", {}, form, out);
  }

  async function grantsPage(page) {
    page.append(el("h2", {}, "Grants"));
    const keys = await loadKeys();
    const lists = await inBatches(keys.filter((k) => k.meta && k.meta.KeyManager === "CUSTOMER"), 4, (k) =>
      settle(allPages((p) => kms("ListGrants", p), "Grants", { KeyId: k.id, Limit: 100 }, "Marker", "NextMarker"))
        .then((r) => ({ key: k, ...r })));
    const refused = lists.filter((l) => l.error);
    const grants = lists.filter((l) => !l.error).flatMap((l) => l.value);
    page.append(el("p", { class: "muted" }, `${grants.length} grants on ${lists.length - refused.length} keys.`));
    for (const r of refused) page.append(el("p", {}, "Key ", el("span", { class: "mono" }, r.key.id), ": ", shortError(r.error), " ", r.error.message));
    page.append(table(["Key", ...GRANT_HEADINGS], grantRows(grants, true)));
  }

  const LOOKUP_KEYS = ["EventName", "ResourceName", "Username", "AccessKeyId", "EventId", "ReadOnly", "EventSource", "ResourceType"];

  function toEpoch(localValue) {
    return localValue ? Math.floor(new Date(localValue).getTime() / 1000) : undefined;
  }

  async function auditPage(page) {
    page.append(el("h2", {}, "Audit trail"));
    const status = el("div", { class: "status", id: "chain-status" }, "Verifying the chain…");
    page.append(status);
    settle(openkms("VerifyAuditTrail", {})).then(({ value, error }) => {
      if (error) { status.replaceChildren("Chain verification: ", shortError(error), " ", error.message); return; }
      const badge = value.Intact === true ? el("span", { class: "badge ok" }, "INTACT")
        : value.Intact === false ? el("span", { class: "badge bad" }, "BROKEN")
          : el("span", { class: "badge warn" }, "NOT SEALED");
      status.replaceChildren("Chain verification: ", badge, " ", value.Summary,
        value.Problem ? el("div", { class: "bad" }, value.Problem) : "");
      status.dataset.intact = String(value.Intact);
    });
    const form = el("form", { class: "inline", id: "audit-filter" },
      el("label", {}, "Attribute", el("select", { id: "audit-key" }, el("option", { value: "" }, "(any)"), LOOKUP_KEYS.map((k) => el("option", { value: k }, k)))),
      el("label", {}, "Value", el("input", { id: "audit-value", spellcheck: "false" })),
      el("label", {}, "From", el("input", { id: "audit-start", type: "datetime-local" })),
      el("label", {}, "To", el("input", { id: "audit-end", type: "datetime-local" })),
      el("label", {}, "Max", el("select", { id: "audit-max" }, ["50", "20", "10"].map((n) => el("option", { value: n }, n)))),
      el("button", { type: "submit" }, "Look up"));
    const results = el("div", { id: "audit-results" });
    let token = null;
    const params = () => {
      const p = { MaxResults: Number($("audit-max").value) };
      const key = $("audit-key").value;
      if (key) p.LookupAttributes = [{ AttributeKey: key, AttributeValue: $("audit-value").value }];
      const start = toEpoch($("audit-start").value), end = toEpoch($("audit-end").value);
      if (start !== undefined) p.StartTime = start;
      if (end !== undefined) p.EndTime = end;
      return p;
    };
    async function show(more) {
      clearError();
      const p = params();
      if (more && token) p.NextToken = token;
      let answer;
      try { answer = await lookupEvents(p); } catch (err) { showError(err); return; }
      token = answer.NextToken || null;
      const rows = (answer.Events || []).map((e) => {
        let record = {};
        try { record = JSON.parse(e.CloudTrailEvent); } catch (err) { record = {}; }
        const resources = (e.Resources || []).map((r) => r.ResourceName.split("/").pop()).join(", ");
        return el("tr", {},
          el("td", {}, when(e.EventTime)), el("td", {}, e.EventName),
          el("td", {}, e.Username || (record.userIdentity && record.userIdentity.arn) || ""),
          el("td", { class: "mono" }, e.AccessKeyId || ""), el("td", {}, record.sourceIPAddress || ""),
          el("td", { class: "mono" }, resources),
          el("td", {}, record.errorCode ? el("span", { class: "bad" }, record.errorCode) : el("span", { class: "ok" }, "ok")),
          el("td", {}, el("details", {}, el("summary", {}, "record"), el("pre", {}, JSON.stringify(record, null, 2)))));
      });
      const next = el("button", { type: "button", id: "audit-next", disabled: !token, onclick: () => show(true) }, "Next page");
      results.replaceChildren(table(["Time", "Event", "User", "Access key", "Source IP", "Keys", "Result", ""], rows), next);
    }
    form.addEventListener("submit", (event) => { event.preventDefault(); token = null; show(false); });
    page.append(form, results);
    await show(false);
  }

  const WINDOWS = { "15 minutes": 900, "1 hour": 3600, "6 hours": 21600, "24 hours": 86400 };
  const BUCKETS = 24;
  const MAX_EVENTS = 2000;

  async function activityPage(page) {
    page.append(el("h2", {}, "Requests per key over time"));
    const form = el("form", { class: "inline", id: "activity-form" },
      el("label", {}, "Window", el("select", { id: "activity-window" }, Object.keys(WINDOWS).map((w) => el("option", { value: WINDOWS[w], selected: w === "1 hour" }, w)))),
      el("button", { type: "submit" }, "Draw"));
    const area = el("div", { id: "activity-chart" });
    page.append(form, area);
    const aliases = await settle(loadAliases());
    const names = aliases.value || new Map();
    async function draw() {
      clearError();
      area.replaceChildren(el("p", { class: "muted" }, "Reading the trail…"));
      const span = Number($("activity-window").value);
      const end = Math.floor(Date.now() / 1000) + 1;
      const start = end - span;
      const events = [];
      let token;
      try {
        while (events.length < MAX_EVENTS) {
          const answer = await lookupEvents(Object.assign({ StartTime: start, EndTime: end, MaxResults: 50 }, token ? { NextToken: token } : {}));
          events.push(...(answer.Events || []));
          token = answer.NextToken;
          if (!token) break;
        }
      } catch (err) { area.replaceChildren(); showError(err); return; }
      area.replaceChildren(chart(events, start, end, names, Boolean(token)));
    }
    form.addEventListener("submit", (event) => { event.preventDefault(); draw(); });
    await draw();
  }

  // The axis top: five equal whole steps (1, 2, 2.5 or 5 times a power of ten) covering v.
  function niceCeiling(v) {
    const raw = Math.max(1, v / 5);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const steps = power >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
    return 5 * steps.map((m) => m * power).find((n) => n >= raw);
  }

  function chart(events, start, end, aliases, truncated) {
    const width = 960, height = 320, left = 48, right = 16, top = 12, bottom = 36;
    const step = (end - start) / BUCKETS;
    const counts = new Map();
    for (const e of events) {
      const keys = (e.Resources || []).filter((r) => r.ResourceType === "AWS::KMS::Key").map((r) => r.ResourceName.split("/").pop());
      for (const key of new Set(keys)) {
        if (!counts.has(key)) counts.set(key, new Array(BUCKETS).fill(0));
        const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.floor((e.EventTime - start) / step)));
        counts.get(key)[bucket] += 1;
      }
    }
    let series = [...counts.entries()].map(([key, values]) => ({ key, values, total: values.reduce((a, b) => a + b, 0) }))
      .sort((a, b) => b.total - a.total);
    if (series.length > CHART_COLOURS.length) {
      const rest = series.slice(CHART_COLOURS.length - 1);
      const other = new Array(BUCKETS).fill(0);
      for (const s of rest) s.values.forEach((v, i) => { other[i] += v; });
      series = [...series.slice(0, CHART_COLOURS.length - 1), { key: `${rest.length} other keys`, values: other, total: other.reduce((a, b) => a + b, 0), other: true }];
    }
    const peak = niceCeiling(Math.max(0, ...series.flatMap((s) => s.values)));
    const x = (i) => left + (i + 0.5) * (width - left - right) / BUCKETS;
    const y = (v) => top + (height - top - bottom) * (1 - v / peak);
    const drawing = svg("svg", { class: "chart", id: "activity-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Requests per key over time" });
    for (let t = 0; t <= 5; t++) {
      const v = peak * t / 5;
      drawing.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }),
        svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
    }
    drawing.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }),
      svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
    for (let i = 0; i <= BUCKETS; i += 6) {
      const at = new Date((start + i * step) * 1000);
      const label = at.toISOString().slice(11, 16);
      const px = left + i * (width - left - right) / BUCKETS;
      drawing.append(svg("text", { x: px, y: height - bottom + 16, "text-anchor": "middle" }, label));
    }
    drawing.append(svg("text", { x: (width + left) / 2, y: height - 4, "text-anchor": "middle" }, "time (UTC), requests per bucket of " + Math.round(step) + " s"));
    series.forEach((s, n) => {
      const colour = CHART_COLOURS[n];
      const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      drawing.append(svg("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, "data-key": s.key }));
      s.values.forEach((v, i) => {
        if (v) drawing.append(svg("circle", { cx: x(i), cy: y(v), r: 3, fill: colour }, svg("title", {}, `${s.key}: ${v}`)));
      });
    });
    const legend = el("div", { class: "legend", id: "activity-legend" }, series.map((s, n) => el("span", {},
      el("span", { class: `swatch sw${n}` }), s.other ? s.key : ((aliases.get(s.key) || [])[0] || s.key), ` (${s.total})`)));
    const note = el("p", { class: "muted" }, `${events.length} events read` + (truncated ? ` (the newest ${MAX_EVENTS} only)` : "") +
      (series.length ? "." : "; no request named a key in this window."));
    return el("div", {}, drawing, legend, note);
  }

  // ---- routing ----

  const PAGES = { keys: keysPage, grants: grantsPage, audit: auditPage, activity: activityPage };

  async function route() {
    clearError();
    const creds = credentials();
    const page = $("page");
    $("nav").hidden = !creds;
    $("signout").hidden = !creds;
    $("whoami").textContent = creds && creds.identity ? `${creds.identity.arn} · ${creds.region}` : "";
    if (!creds) {
      $("login").hidden = false;
      page.hidden = true;
      page.replaceChildren();
      return;
    }
    $("login").hidden = true;
    page.hidden = false;
    const [name, arg] = (location.hash.slice(1) || "keys").split("/");
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("current", link.dataset.page === name);
    const fresh = el("div", { id: `page-${name}` });
    page.replaceChildren(fresh);
    page.dataset.ready = "false";
    try {
      if (name === "key" && arg) await keyPage(fresh, decodeURIComponent(arg));
      else await (PAGES[name] || keysPage)(fresh);
    } catch (err) {
      showError(err);
    }
    page.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.crypto || !window.crypto.subtle) {
      showError(new Error("This page is not a secure context, so the browser offers no WebCrypto to sign requests with: open the console over HTTPS, or on localhost / 127.0.0.1."));
      return;
    }
    $("login-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    window.addEventListener("hashchange", route);
    route();
  });
})();
