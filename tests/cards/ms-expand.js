#!/usr/bin/env node
// Cross-check: expand every templating case in DIR with Microsoft's
// Adaptive Card Templating engine (npm `adaptivecards-templating`, with its
// peer `adaptive-expressions`) and print one JSON object:
//
//   { "<file>": { "output": <expanded JSON> } }   or   { "<file>": { "error": "<message>" } }
//
// Each case file is { "template": <card template>, "data": <object> } and is
// expanded as  new Template(template).expand({ $root: data }).
// An expansion that yields `undefined` is reported as { "output": null }.
//
// Usage: node tests/cards/ms-expand.js tests/cards/templating
"use strict";

const fs = require("fs");
const path = require("path");
const ACData = require("adaptivecards-templating");

function expandCase(testCase) {
    try {
        const template = new ACData.Template(testCase.template);
        const output = template.expand({ $root: testCase.data });
        // Round-trip through JSON so the report shows exactly what a consumer
        // serialising the result would see.
        return { output: output === undefined ? null : JSON.parse(JSON.stringify(output)) };
    } catch (err) {
        return { error: String(err && err.message !== undefined ? err.message : err) };
    }
}

// formatNumber() (and other locale-aware functions) use the process's default
// Intl locale, which Node takes from LC_ALL/LANG. Pin it to en-US so the
// output does not depend on the machine: re-run under en_US if needed.
function ensureEnUsLocale() {
    if (Intl.DateTimeFormat().resolvedOptions().locale === "en-US") {
        return;
    }
    if (process.env.MS_EXPAND_LOCALE_PINNED) {
        process.stderr.write("warning: could not pin the Intl locale to en-US\n");
        return;
    }
    const { spawnSync } = require("child_process");
    const env = Object.assign({}, process.env, {
        LC_ALL: "en_US.UTF-8",
        LANG: "en_US.UTF-8",
        MS_EXPAND_LOCALE_PINNED: "1",
    });
    const r = spawnSync(process.execPath, [__filename].concat(process.argv.slice(2)), { env, stdio: "inherit" });
    process.exit(r.status === null ? 1 : r.status);
}

function main() {
    ensureEnUsLocale();
    const dir = process.argv[2];
    if (!dir) {
        process.stderr.write("usage: ms-expand.js DIR\n");
        process.exit(2);
    }
    const files = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json") && f !== "expected.json")
        .sort();
    const out = {};
    for (const f of files) {
        let testCase;
        try {
            testCase = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
        } catch (err) {
            out[f] = { error: "invalid JSON: " + err.message };
            continue;
        }
        out[f] = expandCase(testCase);
    }
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
}

main();
