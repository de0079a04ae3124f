// Validates an unpacked Teams app package with Microsoft's own manifest schemas, shipped offline
// in npm @microsoft/app-manifest: manifest.json against MicrosoftTeams.schema.json of the
// version it declares, each localization file against MicrosoftTeams.Localization.schema.json.
// Usage: node validate-package.js DIR  → prints {"schemaVersion", "manifest": [errors],
// "localization": {file: [errors]}}.
const fs = require("fs");
const path = require("path");
const { ManifestUtil } = require("@microsoft/app-manifest");

const schemas = path.join(__dirname, "node_modules/@microsoft/app-manifest/build/json-schemas/teams");

function schema(version, file) {
  // Microsoft's own workaround for a regex their schemas write with "\a" (see fetchSchema), and
  // one more of the same kind: the localization schemas' activityTypes patterns close a class
  // with a bare "]" (`\[\b(…)\b]`), which ajv's unicode regular expressions refuse ("Lone
  // quantifier brackets"); escaped, it means what it meant without the unicode flag.
  const text = fs.readFileSync(path.join(schemas, `v${version}`, file), "utf8")
    .replace(/\\a/g, "\\x07")
    .split("\\\\b]").join("\\\\b\\\\]");
  return JSON.parse(text);
}

(async () => {
  const dir = process.argv[2];
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  const version = manifest.manifestVersion;
  const out = { schemaVersion: version, manifest: [], localization: {} };
  out.manifest = await ManifestUtil.validateManifestAgainstSchema(manifest, schema(version, "MicrosoftTeams.schema.json"));
  for (const lang of (manifest.localizationInfo || {}).additionalLanguages || []) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, lang.file), "utf8"));
    out.localization[lang.file] = await ManifestUtil.validateManifestAgainstSchema(
      doc, schema(version, "MicrosoftTeams.Localization.schema.json"));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(2); });
