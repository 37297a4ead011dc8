-- POST create-upload requests for one user; args: bearer token.
local body = '{"fileName":"clip.mp4","fileSize":1048576,"mimeType":"video/mp4",' ..
  '"metadata":{"title":"Bench","description":"","visibility":"PUBLIC"}}'
local headers

function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1], ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", "/api/v1/media/upload/direct", headers, body)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
