-- wrk script: SendToConversation round-robin over the conversations in $CONVS (one id a line),
-- with the bearer token in $TOKEN, as a bot's connector client sends them.
local convs = {}
for line in io.lines(os.getenv("CONVS")) do
  convs[#convs + 1] = line
end
local token = os.getenv("TOKEN")
local body = '{"type":"message","text":"Benchmark notification: the quarterly report is ready.","channelData":{"notification":{"alert":true}}}'
local n = 0

local function encode(s)
  return (s:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

request = function()
  n = n + 1
  local conv = convs[(n % #convs) + 1]
  return wrk.format("POST", "/v3/conversations/" .. encode(conv) .. "/activities",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
