-- GET the status of random uploads of one user; args: ids file, bearer token.
local ids = {}
local token

function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  token = args[2]
  math.randomseed(42)
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/media/status/" .. id, { ["Authorization"] = "Bearer " .. token })
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
