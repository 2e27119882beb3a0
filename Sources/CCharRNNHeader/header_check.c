/* Compiles the public header as C (SwiftPM needs a source file in a C target): a header that does not
 * stand alone fails the build here. */
#include "../../include/charrnn.h"

_Static_assert(CHARRNN_VERSION_NUMBER ==
                   CHARRNN_VERSION_MAJOR * 10000 + CHARRNN_VERSION_MINOR * 100 + CHARRNN_VERSION_PATCH,
               "the version macros disagree");
