"""bench/sse_baseline.py PORT: the baseline of bench/sse.sh, a Python
asyncio server answering GET /sse with the same chunked event stream as
the wippy handler (one event per chunk, written as fast as the client
takes them, waiting on drain, and yielding every 64 events so that one
fast connection does not starve the others)."""
import asyncio, sys

async def client(reader, writer):
    try:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        i = 0
        while True:
            i += 1
            ev = b"event: tick\ndata: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            await writer.drain()
            if i % 64 == 0:
                await asyncio.sleep(0)  # drain() under its mark never yields
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()

async def main():
    srv = await asyncio.start_server(client, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
