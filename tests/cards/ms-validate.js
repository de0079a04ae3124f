#!/usr/bin/env node
// Cross-check: run Microsoft's Adaptive Card parser (npm `adaptivecards`)
// over every *.json card in DIR and print its verdict as one JSON object:
//
//   { "<file>": { "valid": bool, "events": [{ "event": "<ValidationEvent>", "message": "..." }] } }
//
// "valid" is false iff at least one event is not one of the advisory kinds
// listed in ADVISORY below. A thrown exception (including a file that is not
// JSON) is reported as invalid with event "Exception".
//
// Usage: node tests/cards/ms-validate.js tests/cards/validation
"use strict";

const fs = require("fs");
const path = require("path");
// `require('adaptivecards')` resolves to the ESM build (imports without
// extensions), which Node cannot load; the UMD bundle parses fine without a DOM.
const AC = require("adaptivecards/dist/adaptivecards.js");

const ADVISORY = new Set([
    "Hint",
    "Deprecated",
    "RequiredInputsShouldHaveLabel",
    "RequiredInputsShouldHaveErrorMessage",
]);

function eventName(n) {
    const name = AC.ValidationEvent[n];
    return name === undefined ? String(n) : name;
}

function validateCard(json) {
    const events = [];
    try {
        const card = new AC.AdaptiveCard();
        const ctx = new AC.SerializationContext();
        card.parse(json, ctx);
        for (let i = 0; i < ctx.eventCount; i++) {
            const e = ctx.getEventAt(i);
            events.push({ event: eventName(e.event), message: e.message });
        }
        for (const e of card.validateProperties().validationEvents) {
            events.push({ event: eventName(e.event), message: e.message });
        }
    } catch (err) {
        events.push({ event: "Exception", message: String(err && err.message ? err.message : err) });
    }
    const valid = events.every((e) => ADVISORY.has(e.event));
    return { valid, events };
}

function main() {
    const dir = process.argv[2];
    if (!dir) {
        process.stderr.write("usage: ms-validate.js DIR\n");
        process.exit(2);
    }
    const files = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json") && f !== "known-differences.json")
        .sort();
    const out = {};
    // The parser warns through console.*; keep stdout pure JSON.
    const origLog = console.log;
    const origWarn = console.warn;
    const origError = console.error;
    console.log = console.warn = console.error = (...a) => process.stderr.write(a.join(" ") + "\n");
    for (const f of files) {
        let json;
        try {
            json = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
        } catch (err) {
            out[f] = { valid: false, events: [{ event: "Exception", message: "invalid JSON: " + err.message }] };
            continue;
        }
        out[f] = validateCard(json);
    }
    console.log = origLog;
    console.warn = origWarn;
    console.error = origError;
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
}

main();
