/*
 * fuzz_main.c - the libFuzzer entry points of one harness. Built once per
 * target with FUZZ_TARGET naming it (tests/fuzz/CMakeLists.txt), linked
 * with -fsanitize=fuzzer: libFuzzer provides main().
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_targets.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target, e.g. -DFUZZ_TARGET=\"call_decode\""
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fuzz_target_t *s_target;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_targets_init();
    s_target = fuzz_target_find(FUZZ_TARGET);
    if (!s_target) {
        fprintf(stderr, "fuzz: no target named %s\n", FUZZ_TARGET);
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return s_target->run(data, size);
}
