-- An idle worker: waits for its CANCEL and returns.
return { main = function() process.events():receive() return 0 end }
