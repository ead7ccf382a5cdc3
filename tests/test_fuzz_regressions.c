/*
 * test_fuzz_regressions.c - every input the fuzzers ever crashed on, and the
 * seed corpus, replayed through the harnesses' own entry points in a normal
 * build (tests/fuzz/fuzz_targets.h), so that a fixed bug stays fixed under
 * gcc, clang and the sanitizer suite without libFuzzer.
 *
 * Layout: tests/fuzz/regressions/<target>/<file> holds minimized crashing
 * inputs, tests/fuzz/corpus/<target>/<file> the seeds; <target> names an
 * entry of the target table. A target aborts on a broken invariant, and the
 * sanitizer build reports memory errors and leaks; either fails this test.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fuzz/fuzz_targets.h"

#define FUZZ_DIR TIX_SOURCE_DIR "/tests/fuzz"
#define INPUT_MAX_BYTES (1 << 20) /* libFuzzer's -max_len never goes near this */

/* Reads path into a new buffer (caller frees); NULL when it cannot. */
static uint8_t *
s_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(INPUT_MAX_BYTES);
    *size = buf ? fread(buf, 1, INPUT_MAX_BYTES, f) : 0;
    fclose(f);
    return buf;
}

static bool
s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Runs every file of dir through target; returns how many ran. */
static size_t
s_replay_files(const fuzz_target_t *target, const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        size_t size = 0;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int) sizeof path)
            fail_msg("path too long: %s/%s", dir, e->d_name);
        uint8_t *data = s_read_file(path, &size);
        assert_non_null(data);
        print_message("replay %s (%zu bytes)\n", path + strlen(TIX_SOURCE_DIR) + 1, size);
        assert_int_equal(target->run(data, size), 0);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

/* Replays root/<target>/<file> for every target directory under root. Fails on
 * a directory that names no target. Returns the number of inputs. */
static size_t
s_replay_tree(const char *root)
{
    size_t n = 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char dir[1024];
        if (snprintf(dir, sizeof dir, "%s/%s", root, e->d_name) >= (int) sizeof dir)
            fail_msg("path too long: %s/%s", root, e->d_name);
        if (e->d_name[0] == '.' || !s_is_dir(dir))
            continue;
        const fuzz_target_t *target = fuzz_target_find(e->d_name);
        if (!target)
            fail_msg("%s names no fuzz target", dir);
        n += s_replay_files(target, dir);
    }
    closedir(d);
    return n;
}

static void
test_every_target_has_seeds(void **state)
{
    (void) state;
    for (size_t i = 0; i < fuzz_target_count(); i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/corpus/%s", FUZZ_DIR, fuzz_target_at(i)->name);
        if (!s_is_dir(dir))
            fail_msg("no seed corpus for fuzz_%s: %s", fuzz_target_at(i)->name, dir);
    }
}

static void
test_every_seed_input_runs_cleanly(void **state)
{
    (void) state;
    size_t n = s_replay_tree(FUZZ_DIR "/corpus");
    assert_true(n >= fuzz_target_count());
}

static void
test_every_saved_crash_stays_fixed(void **state)
{
    (void) state;
    /* Empty until a fuzzer finds something; each find lands here. */
    size_t n = s_replay_tree(FUZZ_DIR "/regressions");
    print_message("%zu regression inputs replayed\n", n);
}

static void
test_framing_reads_counted_frames_and_cuts_short_ones(void **state)
{
    (void) state;
    /* op 1, two frames: "hi", then one that claims 9 bytes of the 1 left. */
    static const uint8_t cut[] = {0x12, 0x00, 0x02, 'h', 'i', 0x00, 0x09, 'x'};
    /* Three frames and no bytes for them; then one frame with half a length. */
    static const uint8_t owed[] = {0x03};
    static const uint8_t half[] = {0x01, 0x00};
    fuzz_reader_t r;
    fuzz_message_t m;
    fuzz_reader_init(&r, cut, sizeof cut);
    assert_true(fuzz_next_message(&r, &m));
    assert_int_equal(m.op, 1);
    assert_int_equal(m.nframes, 2);
    assert_int_equal(m.frames[0].size, 2);
    assert_memory_equal(m.frames[0].data, "hi", 2);
    assert_int_equal(m.frames[1].size, 1);
    assert_memory_equal(m.frames[1].data, "x", 1);
    assert_false(fuzz_next_message(&r, &m));
    fuzz_reader_init(&r, owed, sizeof owed);
    assert_true(fuzz_next_message(&r, &m));
    assert_int_equal(m.nframes, 3);
    assert_int_equal(m.frames[0].size + m.frames[1].size + m.frames[2].size, 0);
    assert_false(fuzz_next_message(&r, &m));
    fuzz_reader_init(&r, half, sizeof half);
    assert_true(fuzz_next_message(&r, &m));
    assert_int_equal(m.nframes, 1);
    assert_int_equal(m.frames[0].size, 0);
    assert_false(fuzz_next_message(&r, &m));
}

static int
s_teardown(void **state)
{
    (void) state;
    fuzz_targets_shutdown();
    return 0;
}

int
main(void)
{
    fuzz_targets_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_reads_counted_frames_and_cuts_short_ones),
        cmocka_unit_test(test_every_target_has_seeds),
        cmocka_unit_test(test_every_seed_input_runs_cleanly),
        cmocka_unit_test(test_every_saved_crash_stays_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
