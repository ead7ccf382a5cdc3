#include "tix_version.h"

#include "tix_version_gen.h" /* generated in the build tree: TIX_VERSION, TIX_GIT_SHA */

const char *
tix_version(void)
{
    return TIX_VERSION " (git " TIX_GIT_SHA ")";
}
