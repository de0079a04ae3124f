-- wrk script: personal installationUpdate activities of distinct users to /api/messages, all
-- carrying the one channel token the emulator hands out (Teams reuses its token the same way).
local token = os.getenv("TOKEN")
local service_url = os.getenv("SERVICE_URL")
local tenant = os.getenv("TENANT")
local bot = os.getenv("BOT")
local n = 0

request = function()
  n = n + 1
  local aad = string.format("00000000-0000-4000-8000-%012d", n)
  local body = string.format(
    '{"type":"installationUpdate","action":"add","id":"f:%d","channelId":"msteams","serviceUrl":"%s",' ..
    '"from":{"id":"29:1bench%d","aadObjectId":"%s","name":"Bench User %d"},' ..
    '"recipient":{"id":"%s","name":"Herald Sandbox"},' ..
    '"conversation":{"id":"a:1bench%d","conversationType":"personal","tenantId":"%s"},' ..
    '"channelData":{"tenant":{"id":"%s"}},"locale":"en-US"}',
    n, service_url, n, aad, n, bot, n, tenant, tenant)
  return wrk.format("POST", "/api/messages",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
