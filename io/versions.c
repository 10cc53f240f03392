#include "versions.h"

#include <hdf5.h>
#include <jansson.h>
#include <jpeglib.h>
#include <png.h>
#include <stdio.h>
#include <yaml.h>

void io_library_versions(char *out, size_t n) {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  snprintf(out, n, "libpng %s, libjpeg %d, HDF5 %u.%u.%u%s, libyaml %s, jansson %s",
           png_get_libpng_ver(NULL), JPEG_LIB_VERSION, maj, min, rel,
#ifdef H5_HAVE_PARALLEL
           " (parallel)",
#else
           " (serial)",
#endif
           yaml_get_version_string(), jansson_version_str());
}
