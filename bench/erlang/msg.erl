%% bench/erlang/msg.erl: the baselines of bench/messages.sh, the same two
%% workloads in Erlang: a ring of N processes passing one token that every
%% hop lowers by one from N * LAPS to 0, and N round trips between two.
%% Prints "MODE MESSAGES SECONDS MSGS_PER_S" like the wippy driver.
-module(msg).
-export([main/1]).

hop(Next) ->
    receive
        0 -> Next ! 0;
        C -> Next ! C - 1, hop(Next)
    end.

wait_next() -> receive {next, P} -> hop(P) end.

drive(First) ->
    receive
        C when C =< 0 -> ok;
        C -> First ! C - 1, drive(First)
    end.

run(Mode, N, Total) ->
    Pids = [spawn(fun wait_next/0) || _ <- lists:seq(1, N)],
    link_ring(Pids),
    [First | _] = Pids,
    T0 = erlang:monotonic_time(microsecond),
    First ! Total - 1,
    drive(First),
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    io:format("~s ~b ~.3f ~b~n", [Mode, Total, Secs, round(Total / Secs)]),
    First ! 0.

link_ring([P]) -> P ! {next, self()};
link_ring([P, Q | Rest]) -> P ! {next, Q}, link_ring([Q | Rest]).

main(["ring", Size, Laps]) ->
    S = list_to_integer(Size), L = list_to_integer(Laps),
    run("ring", S - 1, S * L), halt();
main(["pingpong", Rounds]) ->
    R = list_to_integer(Rounds),
    run("pingpong", 1, 2 * R), halt().
