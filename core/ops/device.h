/* Which compute devices exist at run time. CUDA support is compiled in when nvcc was found
 * (ANCD_HAVE_CUDA) and used only when a GPU is actually present. */
#ifndef ANCD_DEVICE_H
#define ANCD_DEVICE_H

#include <stddef.h>

/* 1 when this binary was built with the CUDA backend. */
int device_cuda_built(void);
/* Number of usable CUDA GPUs (0 without the backend, driver or device); name of GPU 0 in name
 * and, when none, the reason in words ("no GPU found (no NVIDIA driver)"). */
int device_cuda_count(char *name, size_t n);

#endif
