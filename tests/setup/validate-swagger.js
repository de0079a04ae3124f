// Validates a Power Automate connector definition as Swagger 2.0 with @apidevtools/swagger-parser
// (the Swagger 2.0 JSON schema and the spec's own rules: unique operation ids, path parameters
// declared, resolvable $refs). Usage: node validate-swagger.js FILE → prints {"valid", "error",
// "operations": ["get /v1/…", …]}.
const SwaggerParser = require("@apidevtools/swagger-parser");

(async () => {
  const file = process.argv[2];
  const out = { valid: false, error: null, operations: [] };
  try {
    const api = await SwaggerParser.validate(file);
    out.valid = api.swagger === "2.0";
    for (const [p, item] of Object.entries(api.paths)) {
      for (const m of Object.keys(item)) out.operations.push(`${m} ${p}`);
    }
  } catch (e) {
    out.error = e.message;
  }
  process.stdout.write(JSON.stringify(out));
})();
