/*
 * tix_version.h - the version every binary prints for --version.
 *
 * The version is the CMake project's VERSION; the git commit is read when
 * the build runs (cmake/version.cmake writes a header into the build tree),
 * "unknown" outside a git checkout.
 */
#ifndef TIX_VERSION_H
#define TIX_VERSION_H

/* "0.1.0 (git 1a2b3c4)": static storage, never NULL. */
const char *tix_version(void);

#endif
