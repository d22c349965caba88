%% bench/erlang/scaling.erl: the baseline of bench/scaling.sh, the same
%% workload in Erlang. main([N, MinMs, MaxMs, HoldS]) spawns N monitored
%% workers; each arms a timer of its own interval in [MinMs, MaxMs]
%% (erlang:send_after, re-armed on every fire: the runtime's own timers,
%% not the timer server), tells the spawner it runs, and sends a tick on
%% every fire. Prints "spawned N SECONDS" and "running N SECONDS" like
%% bench/apps/scaling's spawner, holds HoldS seconds, and halts.
-module(scaling).
-export([main/1]).

worker(Parent, Id, Ms) ->
    erlang:send_after(Ms, self(), tick),
    Parent ! {up, Id},
    loop(Parent, Id, Ms).

loop(Parent, Id, Ms) ->
    receive
        tick ->
            erlang:send_after(Ms, self(), tick),
            Parent ! {tick, Id},
            loop(Parent, Id, Ms);
        stop -> ok
    end.

spawn_all(I, N, _, _, _) when I > N -> ok;
spawn_all(I, N, Lo, Hi, Me) ->
    Ms = Lo + rand:uniform(Hi - Lo + 1) - 1,
    spawn_monitor(fun() -> worker(Me, I, Ms) end),
    spawn_all(I + 1, N, Lo, Hi, Me).

wait_up(0) -> ok;
wait_up(K) -> receive {up, _} -> wait_up(K - 1) end.

main([NS, LoS, HiS, HoldS]) ->
    N = list_to_integer(NS), Lo = list_to_integer(LoS),
    Hi = list_to_integer(HiS), Hold = list_to_integer(HoldS),
    T0 = erlang:monotonic_time(microsecond),
    spawn_all(1, N, Lo, Hi, self()),
    T1 = erlang:monotonic_time(microsecond),
    io:format("spawned ~b ~.4f~n", [N, (T1 - T0) / 1.0e6]),
    wait_up(N),
    T2 = erlang:monotonic_time(microsecond),
    io:format("running ~b ~.4f~n", [N, (T2 - T0) / 1.0e6]),
    timer:sleep(Hold * 1000),
    halt(0).
