-- wrk -t2 -c64 -d10s -s wrk.lua http://127.0.0.1:8080/api/tasks
-- Each request spawns a worker that finishes at once (duration 0).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench", "duration": 0}'
