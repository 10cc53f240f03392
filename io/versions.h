/* Versions of the libraries io/ is built on, for `ancd info` and output-file attributes. */
#ifndef ANCD_VERSIONS_H
#define ANCD_VERSIONS_H

#include <stddef.h>

/* "libpng 1.6.39, libjpeg 62, HDF5 1.10.8 (parallel), libyaml 0.2.5" */
void io_library_versions(char *out, size_t n);

#endif
