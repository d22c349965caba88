/*
** runtime/testrun.h: `wippy test`, the runner of function.lua entries whose
** meta.type is "test".
*/
#ifndef RUNTIME_TESTRUN_H
#define RUNTIME_TESTRUN_H

/* The `test` command: argv[0] is "test". Returns the exit code. */
int testrun_main(int argc, char **argv);

#endif
