%% bench/erlang/dist.erl: the baseline of bench/cluster.sh, two Erlang nodes
%% connected by distribution on loopback (erl -sname). On node a, echo/0
%% answers each {ping, From, I} and counts a one-way stream; on node b,
%% main/1 runs ROUNDS timed round trips and then STREAM one-way messages.
%% Prints the same lines as bench/apps/cluster's driver.
-module(dist).
-export([echo/0, main/1]).

echo() ->
    register(echo, self()),
    loop(0).

loop(N) ->
    receive
        {ping, From, I} -> From ! {pong, I}, loop(N);
        s -> loop(N + 1);
        {'end', From} -> From ! {count, N}, loop(0);
        stop -> ok
    end.

rtts(_, 0, Acc) -> Acc;
rtts(Dest, I, Acc) ->
    A = erlang:monotonic_time(nanosecond),
    Dest ! {ping, self(), I},
    receive {pong, I} -> ok end,
    rtts(Dest, I - 1, [erlang:monotonic_time(nanosecond) - A | Acc]).

main([Node, RoundsS, StreamS]) ->
    Rounds = list_to_integer(RoundsS), Stream = list_to_integer(StreamS),
    Dest = {echo, list_to_atom(Node)},
    true = net_kernel:connect_node(list_to_atom(Node)),
    Dest ! {ping, self(), 0},
    receive {pong, 0} -> ok end,
    T0 = erlang:monotonic_time(microsecond),
    R = lists:sort(rtts(Dest, Rounds, [])),
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    P50 = lists:nth(max(1, Rounds div 2), R) div 1000,
    P99 = lists:nth(max(1, round(math:ceil(Rounds * 0.99))), R) div 1000,
    io:format("pingpong ~b ~.3f ~b ~b ~b~n", [Rounds, Secs, round(Rounds / Secs), P50, P99]),
    T1 = erlang:monotonic_time(microsecond),
    [Dest ! s || _ <- lists:seq(1, Stream)],
    Dest ! {'end', self()},
    receive {count, N} -> ok end,
    Secs2 = (erlang:monotonic_time(microsecond) - T1) / 1.0e6,
    io:format("stream ~b ~.3f ~b~n", [N, Secs2, round(N / Secs2)]),
    Dest ! stop,
    halt().
