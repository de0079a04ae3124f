-- wrk script for bench/responses.py: POSTs the prepared answer activities (one JSON per line in
-- $BODIES) to /api/messages with the channel token in $TOKEN, in order; once they are used up it
-- starts again (replays, which Herald answers idempotently).
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

request = function()
  i = i + 1
  return wrk.format(nil, "/api/messages", nil, bodies[((i - 1) % #bodies) + 1])
end
