-- Signed webhook deliveries, one per request, from a file made just before the run:
-- each line is "<Media-Core-Signature value>\t<raw JSON body>".
local lines = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    lines[#lines + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
end

function request()
  index = index + 1
  if index > #lines then index = 1 end
  local item = lines[index]
  return wrk.format("POST", "/api/v1/media/webhook/upload-complete",
    { ["Content-Type"] = "application/json", ["Media-Core-Signature"] = item[1] }, item[2])
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
